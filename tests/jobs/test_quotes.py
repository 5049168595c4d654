"""Quotes: zones, PostGIS distance, exact integer prices, surge, ETAs, expiry and bad input."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from django.contrib.gis.geos import MultiPolygon, Point, Polygon
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from couriers.models import CourierStatus, Vehicle
from jobs.models import JobStatus, Quote, ServiceZone
from jobs.pricing import price_trip, smallest_vehicle_for, surge_multiplier
from tests.factories import JobFactory, ServiceZoneFactory
from tests.jobs.conftest import ALEXANDERPLATZ, MUNICH, online_courier, stop_body, trip_body

URL = "/api/v1/quotes/"
PICKUP = Point(ALEXANDERPLATZ["lng"], ALEXANDERPLATZ["lat"], srid=4326)
# ST_Distance(geography, geography, true) from Alexanderplatz to Potsdamer Platz.
DISTANCE_M = 2872


def post(client: APIClient, body: Any) -> Any:
    return client.post(URL, body, format="json")


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- The happy path -----------------------------------------------------------------------


def test_quote_prices_the_trip_in_exact_minor_units(shop_client, shop_user, zone) -> None:
    before = timezone.now()
    response = post(shop_client, trip_body())

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["distance_m"] == DISTANCE_M
    # 300 base + round(2.872 km x 120) = 345; small parcel and no surge add nothing.
    assert body["price"] == {
        "currency": "eur",
        "base_minor": 300,
        "distance_minor": 345,
        "size_minor": 0,
        "surge_minor": 0,
        "total_minor": 645,
        "courier_payout_minor": 516,
        "platform_fee_minor": 129,
        "surge_multiplier": "1.00",
        "vehicle": "bike",
    }
    assert body["zone_id"] == zone.pk
    assert body["pickup"] == {
        "address": "Alexanderplatz 1, Berlin",
        "lat": 52.5219,
        "lng": 13.4132,
        "contact_name": "Kim Shopkeeper",
        "contact_phone": "+4930111111",
        "instructions": "Back door",
    }
    assert body["package"] == {
        "size": "small",
        "weight_g": 1200,
        "value_minor": 4500,
        "description": "Book",
    }
    # Nobody is near: the documented default pickup ETA.
    assert (body["pickup_eta_s"], body["pickup_eta_source"]) == (900, "default")
    # 2864.8 m great circle x 1.3 road factor / 4.5 m/s (bike) = 827.6 s, rounded up.
    assert body["trip_s"] == 828
    assert body["dropoff_eta_s"] == 900 + 828
    expires = parse(body["expires_at"])
    assert before + timedelta(seconds=300) <= expires <= timezone.now() + timedelta(seconds=300)
    quote = Quote.objects.get(pk=body["id"])
    assert quote.shop_id == shop_user.shop_id
    assert (quote.total_minor, quote.distance_m, quote.zone_id) == (645, DISTANCE_M, zone.pk)


def test_minimum_fee_tops_up_the_base(shop_client, zone) -> None:
    zone.minimum_fee_minor = 1000
    zone.save()

    price = post(shop_client, trip_body()).json()["price"]

    assert (price["base_minor"], price["distance_minor"], price["total_minor"]) == (655, 345, 1000)


def test_xl_parcel_is_priced_for_a_van_with_size_factor(shop_client, zone) -> None:
    body = trip_body(package={"size": "xl", "weight_g": 30_000})

    price = post(shop_client, body).json()["price"]

    # Van factor 1.5: base 450, distance round(344.64 x 1.5) = 517; xl size 2.0 doubles.
    assert price["vehicle"] == "van"
    assert (price["base_minor"], price["distance_minor"], price["size_minor"]) == (450, 517, 967)
    assert price["total_minor"] == 1934
    assert price["platform_fee_minor"] == 387  # 386.8 rounds up
    assert price["courier_payout_minor"] == 1547


def test_pickup_eta_comes_from_the_nearest_fitting_courier(shop_client, zone) -> None:
    # 0.01 deg of latitude north of the pickup; an offline courier nearer does not count.
    online_courier(52.5319, 13.4132, vehicle=Vehicle.SCOOTER)
    online_courier(52.5229, 13.4132, status=CourierStatus.OFFLINE)

    body = post(shop_client, trip_body()).json()

    # 0.01 deg of latitude = 1111.95 m; x 1.3 / 7.0 m/s (scooter) = 206.5 s, rounded up.
    assert (body["pickup_eta_s"], body["pickup_eta_source"]) == (207, "nearest_courier")


def test_quote_expires_after_the_configured_ttl(shop_client, zone, settings) -> None:
    settings.QUOTE_TTL_SECONDS = 60
    body = post(shop_client, trip_body()).json()
    quote = Quote.objects.get(pk=body["id"])

    assert timedelta(seconds=59) < quote.expires_at - quote.created_at <= timedelta(seconds=61)


# --- Zones ------------------------------------------------------------------------------


@pytest.mark.parametrize("end", ["pickup", "dropoff"])
def test_an_end_outside_every_zone_is_422(shop_client, zone, end) -> None:
    body = trip_body(**{end: stop_body(MUNICH, "Marienplatz 1, München")})

    response = post(shop_client, body)

    assert response.status_code == 422
    assert response.json()["code"] == "outside_service_area"
    assert response.json()["fields"] == {end: ["Outside every service zone."]}
    assert Quote.objects.count() == 0


def test_an_inactive_zone_serves_nobody(shop_client, zone) -> None:
    zone.is_active = False
    zone.save()

    response = post(shop_client, trip_body())

    assert response.status_code == 422
    assert set(response.json()["fields"]) == {"pickup", "dropoff"}


def test_no_zone_at_all_is_422(shop_client, db) -> None:
    assert post(shop_client, trip_body()).status_code == 422


def test_the_pickup_zone_prices_a_trip_ending_in_another_zone(shop_client, zone) -> None:
    munich = ServiceZoneFactory(
        name="Munich",
        area=MultiPolygon(Polygon.from_bbox((11.4, 48.0, 11.7, 48.25)), srid=4326),
        currency="chf",
        base_fee_minor=900,
    )
    body = trip_body(pickup=stop_body(MUNICH, "Marienplatz 1, München"))

    response = post(shop_client, body)

    assert response.status_code == 201
    assert response.json()["zone_id"] == munich.pk
    assert response.json()["price"]["currency"] == "chf"
    assert response.json()["price"]["base_minor"] == 900


# --- Surge ------------------------------------------------------------------------------


def open_jobs_near_pickup(count: int, status: JobStatus = JobStatus.PENDING) -> None:
    for _ in range(count):
        JobFactory(status=status, pickup_point=Point(13.4140, 52.5225, srid=4326))


@pytest.mark.parametrize(
    ("pending", "unassigned", "couriers", "multiplier", "surge_minor"),
    [
        (0, 0, 0, "1.00", 0),  # nothing going on
        (2, 0, 2, "1.00", 0),  # supply covers demand
        (2, 1, 2, "1.50", 323),  # 3 open / 2 couriers; 645 x 0.5 = 322.5 rounds up
        (3, 1, 0, "2.00", 645),  # no couriers: 4 / 1, capped at 2
        (4, 3, 3, "2.00", 645),  # 7 / 3 = 2.33, capped at 2
    ],
)
def test_surge_follows_open_jobs_over_couriers_near_the_pickup(
    shop_client, zone, pending, unassigned, couriers, multiplier, surge_minor
) -> None:
    open_jobs_near_pickup(pending)
    open_jobs_near_pickup(unassigned, JobStatus.UNASSIGNED)
    for _ in range(couriers):
        online_courier(52.5230, 13.4150)

    price = post(shop_client, trip_body()).json()["price"]

    assert price["surge_multiplier"] == multiplier
    assert price["surge_minor"] == surge_minor
    assert price["total_minor"] == 645 + surge_minor


def test_surge_counts_only_what_is_near_and_open(shop_client, zone, settings) -> None:
    settings.SURGE_RADIUS_M = 1000
    open_jobs_near_pickup(2)
    # Far away (about 2.9 km), or no longer open: none of these count.
    JobFactory(status=JobStatus.PENDING, pickup_point=Point(13.3760, 52.5096, srid=4326))
    JobFactory(status=JobStatus.CANCELLED, pickup_point=PICKUP)
    JobFactory(status=JobStatus.SCHEDULED, pickup_point=PICKUP)
    online_courier(52.5230, 13.4150)
    online_courier(52.5096, 13.3760)  # too far
    online_courier(52.5230, 13.4150, is_position_trusted=False)
    online_courier(52.5230, 13.4150, position_recorded_at=timezone.now() - timedelta(seconds=600))

    price = post(shop_client, trip_body()).json()["price"]

    assert price["surge_multiplier"] == "2.00"  # 2 open jobs / 1 courier


def test_surge_counts_only_couriers_whose_vehicle_takes_the_parcel(shop_client, zone) -> None:
    open_jobs_near_pickup(4)
    for _ in range(4):
        online_courier(52.5230, 13.4150, vehicle=Vehicle.BIKE)  # small parcels only
    van = online_courier(52.5230, 13.4150, vehicle=Vehicle.VAN)

    xl = post(shop_client, trip_body(package={"size": "xl", "weight_g": 9000})).json()
    small = post(shop_client, trip_body()).json()

    # xl: 4 open jobs / 1 van = 4, capped at 2. small: 4 / 5 couriers, no surge.
    assert xl["price"]["surge_multiplier"] == "2.00"
    assert small["price"]["surge_multiplier"] == "1.00"
    van.status = CourierStatus.OFFLINE
    van.save(update_fields=["status"])
    # Same rule as dispatch: no van near, 4 / max(0, 1), capped.
    assert (
        post(shop_client, trip_body(package={"size": "xl", "weight_g": 9000})).json()["price"][
            "surge_multiplier"
        ]
        == "2.00"
    )


def test_overlapping_zones_the_lowest_id_prices_the_trip(shop_client, db) -> None:
    older = ServiceZoneFactory(name="Berlin", base_fee_minor=300, minimum_fee_minor=0)
    # Newer and smaller, around both ends: neither newest nor tightest decides.
    mitte = MultiPolygon(Polygon.from_bbox((13.35, 52.50, 13.43, 52.53)), srid=4326)
    newer = ServiceZoneFactory(name="Mitte", area=mitte, base_fee_minor=900, minimum_fee_minor=0)
    assert older.pk < newer.pk
    assert newer.area.intersects(PICKUP)
    assert newer.area.area < older.area.area

    first = post(shop_client, trip_body()).json()
    older.is_active = False
    older.save(update_fields=["is_active"])
    second = post(shop_client, trip_body()).json()

    # 300 + 345 distance; then Mitte's 900 + 345.
    assert (first["zone_id"], first["price"]["total_minor"]) == (older.pk, 645)
    assert (second["zone_id"], second["price"]["total_minor"]) == (newer.pk, 1245)


def test_zone_surge_cap_limits_the_multiplier(shop_client, zone) -> None:
    zone.surge_cap = Decimal("1.25")
    zone.save()
    open_jobs_near_pickup(5)

    price = post(shop_client, trip_body()).json()["price"]

    assert price["surge_multiplier"] == "1.25"
    assert price["surge_minor"] == 161  # 645 x 0.25 = 161.25


def test_surge_formula() -> None:
    cap = Decimal("2.00")
    assert surge_multiplier(open_jobs=0, available_couriers=0, cap=cap) == Decimal("1.00")
    assert surge_multiplier(open_jobs=4, available_couriers=3, cap=cap) == Decimal("1.33")
    assert surge_multiplier(open_jobs=5, available_couriers=3, cap=cap) == Decimal("1.67")
    assert surge_multiplier(open_jobs=9, available_couriers=1, cap=cap) == Decimal("2.00")


@pytest.mark.parametrize(
    ("size", "vehicle"),
    [("small", Vehicle.BIKE), ("medium", Vehicle.SCOOTER), ("large", Vehicle.CAR), ("xl", "van")],
)
def test_smallest_vehicle_that_fits(size, vehicle) -> None:
    assert smallest_vehicle_for(size) == vehicle


# Hand-worked: Alexanderplatz -> Potsdamer Platz is 2872 m (PostGIS, spheroid).
@pytest.mark.parametrize(
    ("zone_fields", "size", "expected"),
    [
        # medium: scooter (x1.00); 300 + round(2.872 x 120 = 344.64) = 645; size x0.20 =
        # 129; total 774; 20 % fee = 154.8 -> 155; payout 619.
        ({}, "medium", ("scooter", 300, 345, 129, 774, 155, 619)),
        # large: car (x1.20); base 360, distance round(413.568) = 414; size x0.50 of
        # 774 = 387; total 1161; fee 232.2 -> 232; payout 929.
        ({}, "large", ("car", 360, 414, 387, 1161, 232, 929)),
        # A cheaper zone: 199 + round(2.872 x 75 = 215.4) = 414; 12.5 % = 51.75 -> 52.
        (
            {
                "base_fee_minor": 199,
                "per_km_minor": 75,
                "minimum_fee_minor": 0,
                "platform_fee_percent": "12.50",
            },
            "small",
            ("bike", 199, 215, 0, 414, 52, 362),
        ),
        # Odd factors: bike x0.85 -> base round(255) = 255, distance round(292.944) = 293;
        # small x1.10 -> size round(54.8) = 55; total 603; 20 % = 120.6 -> 121.
        (
            {
                "vehicle_factors": {"bike": "0.85", "scooter": "1", "car": "1", "van": "1"},
                "size_factors": {"small": "1.10", "medium": "1", "large": "1", "xl": "1"},
            },
            "small",
            ("bike", 255, 293, 55, 603, 121, 482),
        ),
    ],
)
def test_hand_worked_prices(shop_client, db, zone_fields, size, expected) -> None:
    ServiceZoneFactory(name="Berlin", **zone_fields)

    response = post(shop_client, trip_body(package={"size": size, "weight_g": 1000}))

    assert response.status_code == 201, response.json()
    price = response.json()["price"]
    assert (
        price["vehicle"],
        price["base_minor"],
        price["distance_minor"],
        price["size_minor"],
        price["total_minor"],
        price["platform_fee_minor"],
        price["courier_payout_minor"],
    ) == expected


def half_up(amount: Fraction) -> int:
    """Round a non-negative exact amount to a whole minor unit, halves up."""
    return math.floor(amount + Fraction(1, 2))


ORACLE_VEHICLE = {"small": "bike", "medium": "scooter", "large": "car", "xl": "van"}


def oracle_price(
    *,
    base: int,
    per_km: int,
    minimum: int,
    size: str,
    size_factor: Decimal,
    vehicle_factor: Decimal,
    surge: Decimal,
    fee_percent: Decimal,
    distance_m: int,
) -> tuple[int, int, int, int, int, int]:
    """The README's price recipe, in exact fractions, written apart from jobs.pricing."""
    vf, sf = Fraction(str(vehicle_factor)), max(Fraction(1), Fraction(str(size_factor)))
    base_fee = half_up(base * vf)
    distance_fee = half_up(Fraction(distance_m, 1000) * per_km * vf)
    size_fee = half_up((base_fee + distance_fee) * (sf - 1))
    base_fee += max(0, minimum - (base_fee + distance_fee + size_fee))
    before_surge = base_fee + distance_fee + size_fee
    surge_fee = half_up(before_surge * (Fraction(str(surge)) - 1))
    total = before_surge + surge_fee
    platform_fee = half_up(total * Fraction(str(fee_percent)) / 100)
    return base_fee, distance_fee, size_fee, surge_fee, total, platform_fee


@given(
    distance_m=st.integers(min_value=0, max_value=500_000),
    base=st.integers(min_value=0, max_value=10_000),
    per_km=st.integers(min_value=0, max_value=10_000),
    minimum=st.integers(min_value=0, max_value=20_000),
    size=st.sampled_from(["small", "medium", "large", "xl"]),
    size_factor=st.decimals(min_value=Decimal("0.5"), max_value=5, places=2),
    vehicle_factor=st.decimals(min_value=Decimal("0.5"), max_value=3, places=2),
    surge=st.decimals(min_value=1, max_value=5, places=2),
    fee_percent=st.decimals(min_value=0, max_value=100, places=2),
)
def test_prices_match_an_independent_oracle(
    distance_m, base, per_km, minimum, size, size_factor, vehicle_factor, surge, fee_percent
) -> None:
    price = price_trip(
        currency="eur",
        base_fee_minor=base,
        per_km_minor=per_km,
        minimum_fee_minor=minimum,
        size_factors={size: str(size_factor)},
        vehicle_factors={ORACLE_VEHICLE[size]: str(vehicle_factor)},
        platform_fee_percent=fee_percent,
        distance_m=distance_m,
        package_size=size,
        surge=surge,
    )

    expected = oracle_price(
        base=base,
        per_km=per_km,
        minimum=minimum,
        size=size,
        size_factor=size_factor,
        vehicle_factor=vehicle_factor,
        surge=surge,
        fee_percent=fee_percent,
        distance_m=distance_m,
    )
    assert (
        price.base_minor,
        price.distance_fee_minor,
        price.size_fee_minor,
        price.surge_fee_minor,
        price.total_minor,
        price.platform_fee_minor,
    ) == expected
    assert price.vehicle == ORACLE_VEHICLE[size]
    assert price.courier_payout_minor == expected[4] - expected[5]


# --- Bad input --------------------------------------------------------------------------


def without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    target = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return body


def with_value(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    body = trip_body()
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


BAD_VALUES = [
    (("pickup", "lat"), "52.52"),
    (("pickup", "lat"), True),
    (("pickup", "lat"), None),
    (("pickup", "lat"), 90.5),
    (("pickup", "lng"), -180.01),
    (("dropoff", "lng"), 181),
    (("dropoff", "lat"), [52.5]),
    (("pickup", "address"), 12),
    (("pickup", "address"), ""),
    (("pickup", "address"), "x" * 256),
    (("pickup", "contact_phone"), "1" * 33),
    (("pickup", "instructions"), "x" * 501),
    (("package", "size"), "huge"),
    (("package", "size"), None),
    (("package", "weight_g"), -1),
    (("package", "weight_g"), 0),
    (("package", "weight_g"), "1200"),
    (("package", "weight_g"), 12.5),
    (("package", "weight_g"), 10**12),
    (("package", "value_minor"), -5),
    (("package", "value_minor"), "10"),
    (("package", "description"), "x" * 256),
    (("pickup_after",), "tomorrow"),
    (("deliver_before",), 1700000000),
    (("pickup",), "Alexanderplatz"),
    (("package",), []),
]


@pytest.mark.parametrize(("path", "value"), BAD_VALUES)
def test_bad_values_are_400_naming_the_field(shop_client, zone, path, value) -> None:
    response = post(shop_client, with_value(path, value))

    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "validation_error"
    errors = body["fields"]
    for key in path:
        assert key in errors, body
        errors = errors[key]
    assert Quote.objects.count() == 0


@pytest.mark.parametrize(
    "path",
    [
        ("pickup",),
        ("dropoff",),
        ("package",),
        ("pickup", "lat"),
        ("pickup", "address"),
        ("dropoff", "lng"),
        ("package", "size"),
        ("package", "weight_g"),
    ],
)
def test_missing_fields_are_400_naming_them(shop_client, zone, path) -> None:
    response = post(shop_client, without(trip_body(), *path))

    assert response.status_code == 400
    errors = response.json()["fields"]
    for key in path:
        errors = errors[key]
    assert errors == ["This field is required."]


@pytest.mark.parametrize("body", [[], "trip", 12, None])
def test_a_body_that_is_not_an_object_is_400(shop_client, zone, body) -> None:
    response = shop_client.post(URL, body, format="json")

    assert response.status_code == 400


def test_malformed_json_is_400(shop_client, zone) -> None:
    response = shop_client.post(URL, "{", content_type="application/json")

    assert (response.status_code, response.json()["code"]) == (400, "parse_error")


def test_past_and_inverted_windows_are_400(shop_client, zone) -> None:
    now = timezone.now()
    past = post(shop_client, trip_body(pickup_after=(now - timedelta(hours=1)).isoformat()))
    over = post(shop_client, trip_body(deliver_before=(now - timedelta(minutes=1)).isoformat()))
    inverted = post(
        shop_client,
        trip_body(
            pickup_after=(now + timedelta(hours=3)).isoformat(),
            deliver_before=(now + timedelta(hours=2)).isoformat(),
        ),
    )

    assert past.status_code == 400
    assert past.json()["fields"] == {"pickup_after": ["Must not be in the past."]}
    assert over.status_code == 400
    assert over.json()["fields"] == {"deliver_before": ["Must be in the future."]}
    assert inverted.status_code == 400
    assert inverted.json()["fields"] == {"deliver_before": ["Must be later than pickup_after."]}
    assert Quote.objects.count() == 0


@pytest.mark.parametrize("field", ["pickup_after", "deliver_before"])
def test_a_time_without_a_zone_is_400_naming_the_field(shop_client, zone, field) -> None:
    naive = (timezone.now() + timedelta(hours=2)).replace(tzinfo=None).isoformat()

    response = post(shop_client, trip_body(**{field: naive}))

    assert response.status_code == 400
    assert response.json()["fields"] == {
        field: ["Give a time zone (e.g. 2030-01-01T10:00:00+01:00)."]
    }
    assert Quote.objects.count() == 0


# Alexanderplatz -> Potsdamer Platz by bike (a small parcel), as the straight-line router
# sees it: 2864.8 m great circle x 1.3 road factor at 4.5 m/s = 827.6 s, rounded up to
# 828 s (about 14 minutes).
TRIP_SECONDS = 828


def test_a_deliver_before_sooner_than_the_trip_takes_is_400(shop_client, zone) -> None:
    before = timezone.now()
    response = post(
        shop_client,
        trip_body(deliver_before=(before + timedelta(seconds=TRIP_SECONDS - 30)).isoformat()),
    )

    assert response.status_code == 400
    [message] = response.json()["fields"]["deliver_before"]
    assert message.startswith("Too early: the trip takes about 14 min, so the earliest delivery ")
    earliest = parse(message.rsplit(" ", 1)[1].rstrip("."))
    assert before + timedelta(seconds=TRIP_SECONDS - 1) <= earliest
    assert earliest <= timezone.now() + timedelta(seconds=TRIP_SECONDS)
    assert Quote.objects.count() == 0


def test_a_deliver_before_the_trip_can_meet_is_quoted(shop_client, zone) -> None:
    deliver_before = timezone.now() + timedelta(seconds=TRIP_SECONDS + 60)

    response = post(shop_client, trip_body(deliver_before=deliver_before.isoformat()))

    assert response.status_code == 201, response.json()
    assert response.json()["trip_s"] == TRIP_SECONDS


def test_the_trip_counts_from_a_later_pickup_after(shop_client, zone) -> None:
    start = timezone.now() + timedelta(hours=2)

    tight = post(
        shop_client,
        trip_body(
            pickup_after=start.isoformat(),
            deliver_before=(start + timedelta(seconds=TRIP_SECONDS - 60)).isoformat(),
        ),
    )

    assert tight.status_code == 400
    assert list(tight.json()["fields"]) == ["deliver_before"]


def test_a_future_window_is_kept(shop_client, zone) -> None:
    start = timezone.now() + timedelta(hours=2)
    end = start + timedelta(hours=1)

    body = post(
        shop_client, trip_body(pickup_after=start.isoformat(), deliver_before=end.isoformat())
    ).json()

    assert (parse(body["pickup_after"]), parse(body["deliver_before"])) == (start, end)


# --- Who may quote ----------------------------------------------------------------------


def test_courier_token_is_403(courier_client, zone) -> None:
    response = post(courier_client, trip_body())

    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert Quote.objects.count() == 0


def test_staff_cannot_quote(staff_client, zone) -> None:
    assert post(staff_client, trip_body()).status_code == 403


def test_anonymous_is_401(api_client, zone) -> None:
    assert post(api_client, trip_body()).status_code == 401


def test_zone_defaults_are_the_documented_ones(zone: ServiceZone) -> None:
    assert (zone.base_fee_minor, zone.per_km_minor, zone.minimum_fee_minor) == (300, 120, 500)
    assert zone.platform_fee_percent == Decimal("20.00")
