"""``manage.py seed_demo_zone``: one demo service zone (Berlin) when there is none yet."""

from __future__ import annotations

from django.contrib.gis.geos import MultiPolygon, Polygon
from django.core.management.base import BaseCommand

from jobs.models import ServiceZone

DEMO_ZONE_NAME = "Berlin (demo)"
# The bounding box of the city of Berlin (13.088 to 13.761 E, 52.338 to 52.675 N).
BERLIN_BBOX = (13.088, 52.338, 13.761, 52.675)


def demo_zone_area() -> MultiPolygon:
    return MultiPolygon(Polygon.from_bbox(BERLIN_BBOX), srid=4326)


class Command(BaseCommand):
    help = (
        "Create one demo service zone covering Berlin, with the default prices, so a fresh "
        "install can quote at once. Does nothing when any zone exists."
    )

    def handle(self, *args: object, **options: object) -> None:
        count = ServiceZone.objects.count()
        if count:
            self.stdout.write(f"  {count} service zone(s) already defined; nothing to seed.")
            return
        # Zone names are unique: nodes starting at once still make one demo zone.
        zone, created = ServiceZone.objects.get_or_create(
            name=DEMO_ZONE_NAME, defaults={"area": demo_zone_area()}
        )
        if not created:
            return
        self.stdout.write(
            f"  created service zone {zone.name!r} (central Berlin, {zone.currency}); "
            "edit or replace it in the admin under Jobs > Service zones."
        )
