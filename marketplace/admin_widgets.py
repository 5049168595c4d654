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


def _coordinate_field(name: str, limit: int) -> forms.FloatField:
    out_of_range = f"{name} must be between -{limit} and {limit}."
    return forms.FloatField(
        validators=[
            MinValueValidator(-limit, message=out_of_range),
            MaxValueValidator(limit, message=out_of_range),
        ],
        error_messages={"invalid": f"{name} must be a number."},
    )


class LatLngFormField(forms.MultiValueField):
    """Two numbers in, one WGS84 Point out (None when both are left empty)."""

    widget = LatLngWidget

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("geom_type", None)
        kwargs.pop("srid", None)
        required = kwargs.get("required", True)
        fields = (_coordinate_field("Latitude", 90), _coordinate_field("Longitude", 180))
        # require_all_fields=True would let an optional point through half-filled (the
        # empty number becomes None); instead each number is required once either is
        # typed, and a half-filled pair is "incomplete". Both empty is handled by
        # MultiValueField: "required" or None.
        incomplete = (
            "Enter both latitude and longitude."
            if required
            else "Enter both latitude and longitude, or leave both empty."
        )
        error_messages = {"incomplete": incomplete, **kwargs.pop("error_messages", {})}
        super().__init__(
            fields=fields, require_all_fields=False, error_messages=error_messages, **kwargs
        )

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
