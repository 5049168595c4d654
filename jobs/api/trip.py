"""The trip input shape (stops, package, window), defined once for quotes and job posting.

Fields are strict about JSON types: numbers must be JSON numbers, text must be JSON
strings, flags must be true or false. ``"12"`` for a weight or ``12`` for an address is
a 400 naming the field, not a silent conversion.
"""

from __future__ import annotations

from typing import Any

from django.contrib.gis.geos import Point
from rest_framework import serializers

from couriers.models import Capacity
from jobs.quotes import Package, Stop, TripSpec
from marketplace.api.fields import (
    StrictCharField,
    StrictDateTimeField,
    StrictFloatField,
    StrictIntegerField,
)

# Upper bounds keep integers inside PostgreSQL's integer columns and out of absurdity.
MAX_WEIGHT_G = 1_000_000  # one tonne
MAX_MINOR = 100_000_000  # a million in a two-decimal currency


def optional_text(max_length: int) -> StrictCharField:
    return StrictCharField(max_length=max_length, required=False, allow_blank=True, default="")


class PlaceInputSerializer(serializers.Serializer):
    """An address with its coordinates (WGS 84, JSON numbers)."""

    address = StrictCharField(max_length=255)
    lat = StrictFloatField(min_value=-90, max_value=90)
    lng = StrictFloatField(min_value=-180, max_value=180)

    def to_internal_value(self, data: Any) -> Stop:
        values = super().to_internal_value(data)
        return stop_from(values)


def stop_from(values: dict[str, Any]) -> Stop:
    point = Point(values.pop("lng"), values.pop("lat"), srid=4326)
    return Stop(point=point, **values)


class StopInputSerializer(PlaceInputSerializer):
    """A pickup or dropoff: address, coordinates, who to ask for, what to know."""

    contact_name = optional_text(100)
    contact_phone = optional_text(32)
    instructions = optional_text(500)


class PackageInputSerializer(serializers.Serializer):
    size = serializers.ChoiceField(choices=Capacity.choices)
    weight_g = StrictIntegerField(min_value=1, max_value=MAX_WEIGHT_G)
    value_minor = StrictIntegerField(min_value=0, max_value=MAX_MINOR, required=False, default=0)
    description = optional_text(255)

    def to_internal_value(self, data: Any) -> Package:
        return Package(**super().to_internal_value(data))


TRIP_FIELDS = ("pickup", "dropoff", "package", "pickup_after", "deliver_before")


class TripInputSerializer(serializers.Serializer):
    """Pickup, dropoff, package and an optional window; ``validated_data["trip"]``."""

    pickup = StopInputSerializer()
    dropoff = StopInputSerializer()
    package = PackageInputSerializer()
    pickup_after = StrictDateTimeField(required=False, allow_null=True, default=None)
    deliver_before = StrictDateTimeField(required=False, allow_null=True, default=None)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if all(attrs.get(name) is not None for name in ("pickup", "dropoff", "package")):
            attrs["trip"] = TripSpec(**{name: attrs.pop(name) for name in TRIP_FIELDS})
        return attrs
