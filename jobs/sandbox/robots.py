"""The built-in robo courier: one simulated courier per sandbox job, and its positions."""

from __future__ import annotations

import math
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import Point
from django.utils import timezone

from couriers.models import DEFAULT_CAPACITY, Capacity, Courier, Vehicle
from couriers.services import IngestResult, courier_set_availability, location_ingest
from jobs.models import Job
from marketplace.eta import haversine_m
from marketplace.models import User

# Built-in robo couriers are robo couriers (``is_robo``) whose username starts with this.
ROBO_USERNAME_PREFIX = "sandbox-robo-"
# Where a new robo courier appears: this far north of the pickup.
ROBO_START_OFFSET_M = 300
# Fixes sent for one leg of the trip (the last one on the leg's end point).
ROBO_FIXES_PER_LEG = 5
ROBO_ACCURACY_M = 5.0
_METRES_PER_DEGREE_LAT = 111_320.0
# Fixes are never dated further back than this inside LOCATION_MAX_AGE_SECONDS.
_AGE_MARGIN = timedelta(seconds=5)


def is_builtin_robo(courier: Courier) -> bool:
    """True for the platform's own robo courier (not one driven from outside the API)."""
    return courier.is_robo and courier.user.username.startswith(ROBO_USERNAME_PREFIX)


def robo_courier_create(*, job: Job) -> Courier:
    """A new built-in robo courier for ``job``: online, first fix beside the pickup.

    It drives a car (a van for an xl parcel): it takes the package, and a car's speed
    limit leaves its straight-line fixes plausible on the most trips. It has no password
    (nobody signs in as it). Call inside the transaction that offers it the job.
    """
    vehicle = Vehicle.VAN if job.package_size == Capacity.XL else Vehicle.CAR
    user = User(
        username=f"{ROBO_USERNAME_PREFIX}{uuid.uuid4().hex[:20]}",
        first_name="Robo",
        last_name="Courier",
    )
    user.set_unusable_password()
    user.save()
    courier = Courier.objects.create(
        user=user, vehicle=vehicle, capacity=DEFAULT_CAPACITY[vehicle], is_robo=True
    )
    courier = courier_set_availability(courier=courier, online=True)
    start = Point(
        job.pickup_point.x,
        job.pickup_point.y + ROBO_START_OFFSET_M / _METRES_PER_DEGREE_LAT,
        srid=4326,
    )
    robo_move(courier=courier, to=start, fixes=1)
    return Courier.objects.select_related("user").get(pk=courier.pk)


def robo_move(*, courier: Courier, to: Point, fixes: int = ROBO_FIXES_PER_LEG) -> IngestResult:
    """Report positions from the courier's current point to ``to`` through location
    ingestion, as its app would: ``fixes`` points evenly along the straight line, dated
    evenly between its last fix and now (so they pass the same plausibility rules)."""
    courier.refresh_from_db(fields=["current_point", "position_recorded_at"])
    now = timezone.now()
    earliest = now - timedelta(seconds=settings.LOCATION_MAX_AGE_SECONDS) + _AGE_MARGIN
    start_at = max(courier.position_recorded_at or now, earliest)
    origin = courier.current_point or to
    span = (now - start_at).total_seconds()
    metres = haversine_m(origin, to)
    items: list[dict[str, Any]] = []
    for index in range(1, fixes + 1):
        share = index / fixes
        recorded_at = start_at + timedelta(seconds=span * share) if span > 0 else now
        last = index == fixes  # exactly on ``to``, not a rounding error away
        items.append(
            {
                "lat": to.y if last else origin.y + (to.y - origin.y) * share,
                "lng": to.x if last else origin.x + (to.x - origin.x) * share,
                "recorded_at": recorded_at.isoformat(),
                "accuracy_m": ROBO_ACCURACY_M,
                "heading": _bearing(origin, to) if metres > 0 else None,
                "speed_mps": round(metres / span, 2) if span > 0 else 0.0,
            }
        )
    return location_ingest(courier=courier, items=items)


def robo_rest(*, courier: Courier) -> None:
    """The walk is over: the robo courier goes offline, so nothing else is offered to it."""
    courier_set_availability(courier=courier, online=False)


def _bearing(a: Point, b: Point) -> float:
    lat1, lat2 = math.radians(a.y), math.radians(b.y)
    d_lng = math.radians(b.x - a.x)
    x = math.sin(d_lng) * math.cos(lat2)
    y = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(d_lng)
    return round((math.degrees(math.atan2(x, y)) + 360) % 360, 1)
