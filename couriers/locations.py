"""Location pings: parse and range-check one fix, then judge it against the courier's last one.

Pure Python on purpose (no DRF serializer): the socket path checks thousands of pings a
second on the event loop. Rules, with the settings that tune them:

- ``lat`` (-90..90), ``lng`` (-180..180) and ``recorded_at`` are required; ``accuracy_m``
  (> 0), ``heading`` (0..360) and ``speed_mps`` (>= 0) are optional and may be null.
  Numbers must be JSON numbers: strings, booleans, NaN and infinities are refused.
- ``recorded_at`` is ISO 8601 with a timezone, at most LOCATION_MAX_FUTURE_SECONDS ahead
  of the server clock and at most LOCATION_MAX_AGE_SECONDS behind it.
- A fix older than (or as old as) the courier's current point is *out of order*: kept as a
  breadcrumb flagged ``out_of_order``, never moves the current point.
- Accuracy worse than LOCATION_MAX_ACCURACY_M: kept, moves the point, flag ``inaccurate``,
  and the position is untrusted (not used for matching).
- An implied speed (distance from the last *unflagged* fix, less both accuracies, over the
  time between them) above VEHICLE_MAX_SPEED_MPS[vehicle]: kept, moves the point, flag
  ``implausible_speed``, untrusted, and not shown to trackers. Comparing with the last
  unflagged fix means one GPS jump does not condemn the good fixes after it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

FLAG_INACCURATE = "inaccurate"
FLAG_IMPLAUSIBLE_SPEED = "implausible_speed"
FLAG_OUT_OF_ORDER = "out_of_order"

_OPTIONAL_FIELDS = ("accuracy_m", "heading", "speed_mps")
_EARTH_RADIUS_M = 6_371_008.8


def _haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle metres between two fixes (no GEOS objects on the hot path)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lng2 - lng1) / 2) ** 2
    )
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


class InvalidLocation(Exception):
    """A ping failed validation; ``fields`` maps each bad field to its messages."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.fields = fields
        super().__init__("; ".join(f"{name}: {msgs[0]}" for name, msgs in fields.items()))


@dataclass(frozen=True, slots=True)
class LocationFix:
    """A ping that passed the range and timestamp checks."""

    lat: float
    lng: float
    recorded_at: datetime
    accuracy_m: float | None = None
    heading: float | None = None
    speed_mps: float | None = None


@dataclass(slots=True)
class AcceptedPing:
    """A fix judged against the courier's history, ready to be written."""

    courier_pk: int
    fix: LocationFix
    received_at: datetime
    flag: str = ""

    @property
    def moves_current_point(self) -> bool:
        return self.flag != FLAG_OUT_OF_ORDER

    @property
    def is_trusted(self) -> bool:
        return self.flag == ""

    @property
    def is_shown_to_trackers(self) -> bool:
        return self.flag in ("", FLAG_INACCURATE)


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or None when it is not a JSON number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _timestamp(value: Any) -> datetime | str:
    """A timezone-aware datetime, or the reason ``value`` is not one."""
    if not isinstance(value, str):
        return "An ISO 8601 timestamp string with a timezone is required."
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return "Not an ISO 8601 timestamp."
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return "The timestamp needs a timezone (e.g. Z or +01:00)."
    return parsed


def location_parse(raw: Any, *, now: datetime) -> LocationFix:
    """Check one ping's shape, ranges and timestamp; raise InvalidLocation naming the fields."""
    if not isinstance(raw, dict):
        raise InvalidLocation({"non_field_errors": ["Each location is a JSON object."]})
    errors: dict[str, list[str]] = {}

    lat, lng = _number(raw.get("lat")), _number(raw.get("lng"))
    for name, value, limit in (("lat", lat, 90.0), ("lng", lng, 180.0)):
        if name not in raw or raw[name] is None:
            errors[name] = ["This field is required."]
        elif value is None:
            errors[name] = ["A number is required."]
        elif not -limit <= value <= limit:
            errors[name] = [f"Must be between -{limit:g} and {limit:g}."]

    optional: dict[str, float | None] = {}
    for name in _OPTIONAL_FIELDS:
        if raw.get(name) is None:
            optional[name] = None
            continue
        value = _number(raw[name])
        if value is None:
            errors[name] = ["A number is required."]
        elif name == "accuracy_m" and value <= 0:
            errors[name] = ["Must be greater than 0."]
        elif name == "heading" and not 0 <= value <= 360:
            errors[name] = ["Must be between 0 and 360."]
        elif name == "speed_mps" and value < 0:
            errors[name] = ["Must be 0 or more."]
        optional[name] = value

    recorded_at: datetime | str = "This field is required."
    if raw.get("recorded_at") is not None:
        recorded_at = _timestamp(raw["recorded_at"])
    if isinstance(recorded_at, datetime):
        if recorded_at - now > timedelta(seconds=settings.LOCATION_MAX_FUTURE_SECONDS):
            recorded_at = "Is in the future (check the device clock)."
        elif now - recorded_at > timedelta(seconds=settings.LOCATION_MAX_AGE_SECONDS):
            recorded_at = f"Is older than {settings.LOCATION_MAX_AGE_SECONDS} seconds."
    if isinstance(recorded_at, str):
        errors["recorded_at"] = [recorded_at]

    if errors:
        raise InvalidLocation(errors)
    return LocationFix(lat=lat, lng=lng, recorded_at=recorded_at, **optional)  # type: ignore[arg-type]


def location_batch_check(items: Any) -> list[Any]:
    """A batch (REST list or socket ``locations``) is a JSON list of 1 to
    LOCATION_BATCH_MAX_ITEMS fixes; raise InvalidLocation naming ``items`` otherwise."""
    limit = settings.LOCATION_BATCH_MAX_ITEMS
    if not isinstance(items, list) or not items:
        problem = "A non-empty list of locations is required."
    elif len(items) > limit:
        problem = f"At most {limit} locations in one batch."
    else:
        return items
    raise InvalidLocation({"items": [problem]})


@dataclass(slots=True)
class CourierTrack:
    """What judging a courier's next fix needs: their vehicle, newest and last unflagged fix.

    One per socket (seeded from the courier row at connect) or per REST request.
    """

    courier_pk: int
    vehicle: str
    latest_recorded_at: datetime | None = None
    reference: LocationFix | None = None

    def judge(self, fix: LocationFix, *, received_at: datetime) -> AcceptedPing:
        """Flag ``fix`` (out of order, inaccurate, implausible speed) and remember it."""
        if self.latest_recorded_at is not None and fix.recorded_at <= self.latest_recorded_at:
            return AcceptedPing(self.courier_pk, fix, received_at, FLAG_OUT_OF_ORDER)
        self.latest_recorded_at = fix.recorded_at
        flag = ""
        if fix.accuracy_m is not None and fix.accuracy_m > settings.LOCATION_MAX_ACCURACY_M:
            flag = FLAG_INACCURATE
        elif self.reference is not None and self._implied_speed(fix) > self._max_speed():
            flag = FLAG_IMPLAUSIBLE_SPEED
        if not flag:
            self.reference = fix
        return AcceptedPing(self.courier_pk, fix, received_at, flag)

    def _max_speed(self) -> float:
        limits = settings.VEHICLE_MAX_SPEED_MPS
        return limits.get(self.vehicle, max(limits.values()))

    def _implied_speed(self, fix: LocationFix) -> float:
        ref = self.reference
        if ref is None:
            return 0.0
        seconds = (fix.recorded_at - ref.recorded_at).total_seconds()
        if seconds <= 0:
            return 0.0
        metres = _haversine_m(ref.lat, ref.lng, fix.lat, fix.lng)
        # Two fixes each off by their accuracy radius can seem that much farther apart.
        metres -= (ref.accuracy_m or 0.0) + (fix.accuracy_m or 0.0)
        return max(metres, 0.0) / seconds
