"""Admin editing of points by latitude/longitude, with an optional map beside them.

GeoDjango's stock admin widget needs OpenLayers and map tiles from the internet; this
one works offline: the numbers are the source of truth, and a Leaflet map served from
our own static files mirrors them (and draws tiles only when MAP_TILE_URL is set).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.validators import MaxValueValidator, MinValueValidator


class LatLngWidget(forms.MultiWidget):
    template_name = "marketplace/widgets/latlng.html"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        number = {"step": "any", "style": "width: 12em"}
        super().__init__(
            widgets={
                "lat": forms.NumberInput(attrs={**number, "placeholder": "latitude"}),
                "lng": forms.NumberInput(attrs={**number, "placeholder": "longitude"}),
            },
            attrs=attrs,
        )

    class Media:
        css = {"all": ["leaflet/leaflet.css"]}
        js = ["leaflet/leaflet.js", "marketplace/latlng_widget.js"]

    def decompress(self, value: Point | None) -> list[float | None]:
        if value is None:
            return [None, None]
        return [value.y, value.x]

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["map"] = {
            "tile_url": settings.MAP_TILE_URL,
            "attribution": settings.MAP_TILE_ATTRIBUTION,
        }
        return context


class LatLngFormField(forms.MultiValueField):
    """Two numbers in, one WGS84 Point out (None when both are left empty)."""

    widget = LatLngWidget

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("geom_type", None)
        kwargs.pop("srid", None)
        fields = (
            forms.FloatField(validators=[MinValueValidator(-90), MaxValueValidator(90)]),
            forms.FloatField(validators=[MinValueValidator(-180), MaxValueValidator(180)]),
        )
        super().__init__(fields=fields, require_all_fields=True, **kwargs)

    def compress(self, data_list: list[float]) -> Point | None:
        if not data_list:
            return None
        lat, lng = data_list
        return Point(lng, lat, srid=4326)


class LatLngAdminMixin:
    """Use the latitude/longitude widget for every PointField of a ModelAdmin."""

    def formfield_for_dbfield(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        from django.contrib.gis.db.models import PointField

        if isinstance(db_field, PointField):
            return LatLngFormField(
                required=not db_field.blank,
                label=db_field.verbose_name.capitalize(),
                help_text=db_field.help_text or "Latitude, longitude (WGS84).",
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)
