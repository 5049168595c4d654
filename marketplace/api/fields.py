"""Serializer fields shared by the API: strict JSON types, ``{"lat", "lng"}`` points, JSON strings.

The ``Strict*`` fields take only the JSON type they name: ``"12"`` for a weight, ``12``
for an address or ``"yes"`` for a flag is a 400 naming the field, never a silent
conversion. Every endpoint uses these; DRF's own fields coerce.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import date, datetime
from typing import Any

from django.contrib.gis.geos import Point
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers, status

from marketplace import jsonsafe
from marketplace.api.errors import ApplicationError
from marketplace.api.parsing import PARSE_ERROR_PREFIX


class StrictFloatField(serializers.FloatField):
    """A JSON number: refuses strings, booleans, NaN and infinities."""

    default_error_messages = {"invalid": "A number is required."}

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        if isinstance(data, float) and not math.isfinite(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: refuses strings, booleans and fractions."""

    default_error_messages = {"invalid": "A whole number is required."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A JSON string (or a form field): refuses numbers, booleans, lists and objects."""

    default_error_messages = {"invalid": "A string is required."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        # maxLength in the schema counts what was sent, so the limit applies before trimming.
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """JSON ``true`` or ``false`` only: refuses "yes", 1 and other truthy stand-ins."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictDateTimeField(serializers.DateTimeField):
    """An ISO 8601 string with a time zone; naive times are refused, not guessed."""

    default_error_messages = {"naive": "Give a time zone (e.g. 2030-01-01T10:00:00+01:00)."}

    def to_internal_value(self, value: Any) -> datetime:
        if not isinstance(value, str):
            self.fail("invalid", format="ISO 8601")
        parsed = super().to_internal_value(value)
        # DRF makes naive input aware in the current zone; look at what was sent.
        raw = parse_datetime(value)
        if raw is not None and raw.tzinfo is None:
            self.fail("naive")
        return parsed


_FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class StrictDateField(serializers.DateField):
    """A calendar day written exactly ``YYYY-MM-DD`` (RFC 3339 full-date), as a string."""

    default_error_messages = {"invalid": "Date must be written YYYY-MM-DD."}

    def to_internal_value(self, value: Any) -> date:
        if not isinstance(value, str) or not _FULL_DATE.fullmatch(value):
            self.fail("invalid")
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail("invalid")


class StrictUUIDField(serializers.UUIDField):
    """A UUID written as a JSON string."""

    def to_internal_value(self, data: Any) -> uuid.UUID:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class LatLngField(serializers.Serializer):
    """A WGS84 point written as ``{"lat": 52.52, "lng": 13.405}``."""

    lat = StrictFloatField(min_value=-90, max_value=90)
    lng = StrictFloatField(min_value=-180, max_value=180)

    def to_internal_value(self, data: Any) -> Point:
        values = super().to_internal_value(data)
        return Point(values["lng"], values["lat"], srid=4326)

    def to_representation(self, instance: Point | None) -> dict[str, float] | None:
        if instance is None:
            return None
        return {"lat": instance.y, "lng": instance.x}


class JSONFieldParseError(ApplicationError):
    """A form field that carries JSON (such as ``position``) could not be read."""

    code = "parse_error"
    status_code = status.HTTP_400_BAD_REQUEST


def json_field_value(name: str, text: str, *, max_bytes: int = 64 * 1024) -> Any:
    """Parse the JSON string a multipart field ``name`` carries, as strictly as a body.

    Raises ``JSONFieldParseError`` (400 ``parse_error`` naming the field).
    """
    try:
        return jsonsafe.loads(text, max_bytes=max_bytes)
    except jsonsafe.JSONRejected as exc:
        message = f"{PARSE_ERROR_PREFIX}{exc.msg}"
        raise JSONFieldParseError(f"{name}: {message}", fields={name: [message]}) from None


def _or_empty(string_format: str) -> dict[str, Any]:
    return {
        "anyOf": [{"type": "string", "format": string_format}, {"type": "string", "maxLength": 0}]
    }


@extend_schema_field(_or_empty("email"))
class EmailOrEmptyField(serializers.CharField):
    """An output e-mail address; ``""`` when the account has none."""


@extend_schema_field(_or_empty("uri"))
class URLOrEmptyField(serializers.CharField):
    """An output URL; ``""`` when none is set."""
