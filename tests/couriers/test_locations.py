"""Ping validation and plausibility: every way a fix is refused or flagged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from couriers.locations import (
    FLAG_IMPLAUSIBLE_SPEED,
    FLAG_INACCURATE,
    FLAG_OUT_OF_ORDER,
    CourierTrack,
    InvalidLocation,
    LocationFix,
    location_parse,
)

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def body(**overrides: Any) -> dict[str, Any]:
    base = {"lat": 52.52, "lng": 13.405, "recorded_at": "2026-11-25T11:59:58Z"}
    return {key: value for key, value in {**base, **overrides}.items() if value != "DROP"}


def errors_for(raw: Any) -> dict[str, list[str]]:
    with pytest.raises(InvalidLocation) as caught:
        location_parse(raw, now=NOW)
    return caught.value.fields


def test_a_full_fix_parses_to_exact_values() -> None:
    fix = location_parse(
        body(accuracy_m=8, heading=359.5, speed_mps=0, recorded_at="2026-11-25T12:59:58+01:00"),
        now=NOW,
    )

    assert fix == LocationFix(
        lat=52.52,
        lng=13.405,
        recorded_at=datetime(2026, 11, 25, 11, 59, 58, tzinfo=UTC),
        accuracy_m=8.0,
        heading=359.5,
        speed_mps=0.0,
    )


def test_optional_fields_may_be_missing_or_null() -> None:
    fix = location_parse(body(accuracy_m=None, heading=None), now=NOW)

    assert (fix.accuracy_m, fix.heading, fix.speed_mps) == (None, None, None)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"lat": "DROP"}, "lat"),
        ({"lng": None}, "lng"),
        ({"recorded_at": "DROP"}, "recorded_at"),
        ({"lat": 90.0001}, "lat"),
        ({"lat": -91}, "lat"),
        ({"lng": 180.5}, "lng"),
        ({"lng": -181}, "lng"),
        ({"lat": "52.52"}, "lat"),
        ({"lng": True}, "lng"),
        ({"lat": float("nan")}, "lat"),
        ({"lng": float("inf")}, "lng"),
        ({"lat": [52.5]}, "lat"),
        ({"accuracy_m": 0}, "accuracy_m"),
        ({"accuracy_m": -3}, "accuracy_m"),
        ({"accuracy_m": "5"}, "accuracy_m"),
        ({"heading": 360.1}, "heading"),
        ({"heading": -1}, "heading"),
        ({"heading": False}, "heading"),
        ({"speed_mps": -0.1}, "speed_mps"),
        ({"speed_mps": float("-inf")}, "speed_mps"),
        ({"recorded_at": "yesterday"}, "recorded_at"),
        ({"recorded_at": 1764071998}, "recorded_at"),
        ({"recorded_at": "2026-11-25T11:59:58"}, "recorded_at"),  # no timezone
        ({"recorded_at": "2026-11-25T12:00:31Z"}, "recorded_at"),  # 31 s ahead
        ({"recorded_at": "2026-11-25T11:54:59Z"}, "recorded_at"),  # 301 s old
    ],
)
def test_each_bad_field_is_named(overrides: dict[str, Any], field: str) -> None:
    assert list(errors_for(body(**overrides))) == [field]


def test_the_time_window_edges_are_inclusive() -> None:
    assert location_parse(body(recorded_at="2026-11-25T12:00:30Z"), now=NOW)
    assert location_parse(body(recorded_at="2026-11-25T11:55:00Z"), now=NOW)


def test_every_bad_field_is_reported_at_once() -> None:
    fields = errors_for({"lat": "x", "heading": 400})

    assert sorted(fields) == ["heading", "lat", "lng", "recorded_at"]
    assert fields["lat"] == ["A number is required."]
    assert fields["lng"] == ["This field is required."]


@pytest.mark.parametrize("raw", [[], "ping", 5, None])
def test_a_non_object_is_refused(raw: Any) -> None:
    assert errors_for(raw) == {"non_field_errors": ["Each location is a JSON object."]}


def at(seconds: float, lat: float = 52.52, lng: float = 13.405, **extra: Any) -> LocationFix:
    return LocationFix(lat=lat, lng=lng, recorded_at=NOW + timedelta(seconds=seconds), **extra)


def test_out_of_order_and_repeated_fixes_never_become_current() -> None:
    track = CourierTrack(courier_pk=1, vehicle="bike")

    first = track.judge(at(10), received_at=NOW)
    older = track.judge(at(5), received_at=NOW)
    same = track.judge(at(10), received_at=NOW)

    assert (first.flag, older.flag, same.flag) == ("", FLAG_OUT_OF_ORDER, FLAG_OUT_OF_ORDER)
    assert not older.moves_current_point
    assert track.latest_recorded_at == NOW + timedelta(seconds=10)


def test_an_inaccurate_fix_moves_the_point_but_is_untrusted() -> None:
    track = CourierTrack(courier_pk=1, vehicle="bike")

    ping = track.judge(at(1, accuracy_m=100.5), received_at=NOW)
    good = track.judge(at(2, accuracy_m=100), received_at=NOW)

    assert ping.flag == FLAG_INACCURATE
    assert ping.moves_current_point
    assert not ping.is_trusted
    assert ping.is_shown_to_trackers
    assert good.flag == ""


def test_a_bike_at_car_speed_is_implausible_and_the_next_good_fix_is_not() -> None:
    track = CourierTrack(courier_pk=1, vehicle="bike")
    track.judge(at(0), received_at=NOW)
    # 0.01 degrees of latitude is ~1112 m: 1112 m in 10 s is ~111 m/s.
    jump = track.judge(at(10, lat=52.53), received_at=NOW)
    # Back near the last good fix, 12 m/s later: plausible for a bike (max 15 m/s).
    back = track.judge(at(20, lat=52.5210), received_at=NOW)

    assert jump.flag == FLAG_IMPLAUSIBLE_SPEED
    assert not jump.is_trusted
    assert not jump.is_shown_to_trackers
    assert back.flag == ""


def test_speed_limits_depend_on_the_vehicle() -> None:
    # ~334 m in 10 s = 33 m/s: too fast for a bike (15) or scooter (25), fine for a car (50).
    flags = {}
    for vehicle in ("bike", "scooter", "car"):
        track = CourierTrack(courier_pk=1, vehicle=vehicle)
        track.judge(at(0), received_at=NOW)
        flags[vehicle] = track.judge(at(10, lat=52.523), received_at=NOW).flag

    assert flags == {"bike": FLAG_IMPLAUSIBLE_SPEED, "scooter": FLAG_IMPLAUSIBLE_SPEED, "car": ""}


def test_accuracy_radii_are_allowed_for_before_calling_a_jump_implausible() -> None:
    track = CourierTrack(courier_pk=1, vehicle="bike")
    track.judge(at(0, accuracy_m=60), received_at=NOW)
    # ~111 m in 1 s would be 111 m/s, but both fixes may be 60 m off: 0 m/s for sure.
    assert track.judge(at(1, lat=52.521, accuracy_m=60), received_at=NOW).flag == ""
