"""``manage.py zone_import FILE --name NAME``: create or replace a service zone's area."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from jobs.models import ServiceZone
from jobs.zones import parse_area


class Command(BaseCommand):
    help = (
        "Create a service zone from a GeoJSON (Polygon, MultiPolygon, Feature or "
        "FeatureCollection, WGS 84) or WKT file, or replace the area of the zone with that "
        "name. Prices start at the defaults; edit them in the admin."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="GeoJSON or WKT file; - reads standard input.")
        parser.add_argument("--name", required=True, help="Zone name (unique).")
        parser.add_argument("--currency", help="ISO 4217 code for a new zone, e.g. eur.")
        parser.add_argument(
            "--inactive", action="store_true", help="Create it switched off (review first)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source = options["file"]
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text()
        except OSError as exc:
            raise CommandError(f"cannot read {source}: {exc}") from None
        try:
            area = parse_area(text)
        except ValidationError as exc:
            raise CommandError(f"{source}: {' '.join(exc.messages)}") from None
        currency = (options["currency"] or "").strip().lower()
        if currency and (len(currency) != 3 or not currency.isalpha()):
            raise CommandError("--currency takes a three-letter ISO 4217 code, e.g. eur.")
        with transaction.atomic():
            zone = ServiceZone.objects.select_for_update().filter(name=options["name"]).first()
            if zone is None:
                zone = ServiceZone(name=options["name"], area=area)
                if currency:
                    zone.currency = currency
                zone.is_active = not options["inactive"]
                zone.save()
                verb = "created"
            else:
                zone.area = area
                zone.save(update_fields=["area", "updated_at"])
                verb = "updated the area of"
        self.stdout.write(
            f"  {verb} zone {zone.name!r} ({len(area)} polygon(s), "
            f"{'active' if zone.is_active else 'inactive'}, {zone.currency})"
        )
