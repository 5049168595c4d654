"""Helpers shared by the dispatch tests: couriers placed around a pickup, sync tasks."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

from django.contrib.gis.geos import Point
from django.utils import timezone
from django_q.conf import Conf

from couriers.models import Courier, CourierStatus
from jobs.models import Job
from tests.factories import CourierFactory, JobFactory

# JobFactory's pickup (Alexanderplatz).
PICKUP = Point(13.4132, 52.5219, srid=4326)
EARTH_RADIUS_M = 6_371_008.8


def point_at(distance_m: float, *, bearing_deg: float = 0.0, origin: Point = PICKUP) -> Point:
    """The point ``distance_m`` from ``origin`` along ``bearing_deg`` (great circle)."""
    lat1, lng1 = math.radians(origin.y), math.radians(origin.x)
    bearing, angle = math.radians(bearing_deg), distance_m / EARTH_RADIUS_M
    lat2 = math.asin(
        math.sin(lat1) * math.cos(angle) + math.cos(lat1) * math.sin(angle) * math.cos(bearing)
    )
    lng2 = lng1 + math.atan2(
        math.sin(bearing) * math.sin(angle) * math.cos(lat1),
        math.cos(angle) - math.sin(lat1) * math.sin(lat2),
    )
    return Point(math.degrees(lng2), math.degrees(lat2), srid=4326)


def courier_at(distance_m: float, *, bearing_deg: float = 0.0, **kwargs: object) -> Courier:
    """An available courier with a fresh, trusted position ``distance_m`` from the pickup."""
    now = timezone.now()
    defaults: dict[str, object] = {
        "status": CourierStatus.AVAILABLE,
        "current_point": point_at(distance_m, bearing_deg=bearing_deg),
        "position_recorded_at": now,
        "last_seen_at": now,
        "is_position_trusted": True,
    }
    return CourierFactory(**{**defaults, **kwargs})


def pending_job(**kwargs: object) -> Job:
    """A pending job at PICKUP whose first event is recorded, as posting would leave it."""
    from jobs.lifecycle import job_record_creation

    job = JobFactory(**kwargs)
    job_record_creation(job=job, actor=None)
    return job


@contextmanager
def tasks_run_inline() -> Iterator[None]:
    """django-q2's sync mode: ``async_task`` runs the task in this process, right away."""
    previous = Conf.SYNC
    Conf.SYNC = True
    try:
        yield
    finally:
        Conf.SYNC = previous
