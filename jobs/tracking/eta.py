"""The recipient's live ETA: when the parcel should arrive, how sure we are, and why.

Computed through the project's router interface from the courier's newest trusted fix:
courier → pickup → drop-off before pickup, courier → drop-off after. The last estimate is
kept in the cache with the fix it was based on, so it is recomputed only when a newer
trusted position (or a new status) arrives, whichever process serves the request.

``source`` says what it rests on: ``router`` (a routing engine answered),
``straight_line`` (distance times a road factor over a speed) or ``default`` (no courier position
yet: the typical pickup delay plus the trip). ``confidence`` is ``high`` for a routed
estimate from a fresh fix, ``medium`` for a straight-line one, ``low`` for a default or
when the courier's last fix is older than TRACKING_LOCATION_FRESH_SECONDS (the
``stale_location`` warning).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.cache import cache

from jobs.models import Job, JobStatus
from jobs.pricing import smallest_vehicle_for
from marketplace.eta import StraightLineRouter, get_router, haversine_m, straight_line_seconds

S = JobStatus
NO_ETA_STATUSES = frozenset({S.DELIVERED, S.FAILED, S.RETURNING, S.RETURNED, S.CANCELLED})
BEFORE_PICKUP = frozenset({S.ASSIGNED, S.AT_PICKUP})
AFTER_PICKUP = frozenset({S.PICKED_UP, S.AT_DROPOFF})
# Half-width of the window around the estimate, as a share of the remaining time and at
# least this many seconds.
_MARGINS = {"high": (0.10, 60), "medium": (0.25, 120), "low": (0.50, 300)}
CACHE_SECONDS = 3600


@dataclass(frozen=True)
class Fix:
    """A courier position the ETA can rest on."""

    point: Point
    recorded_at: datetime


def _route_seconds(origin: Point, destination: Point, vehicle: str) -> tuple[int, str]:
    router = get_router()
    seconds = router.eta_seconds(origin, destination, vehicle=vehicle)
    return seconds, "straight_line" if isinstance(router, StraightLineRouter) else "router"


def _window(now: datetime, seconds: float, confidence: str) -> tuple[datetime, datetime]:
    share, floor = _MARGINS[confidence]
    middle = now + timedelta(seconds=seconds)
    half = timedelta(seconds=max(seconds * share, floor))
    return max(now, middle - half), middle + half


def _payload(
    earliest: datetime, latest: datetime, confidence: str, source: str, updated_at: datetime
) -> dict[str, Any]:
    return {
        "earliest": earliest.isoformat(),
        "latest": latest.isoformat(),
        "confidence": confidence,
        "source": source,
        "updated_at": updated_at.isoformat(),
    }


def _vehicle(job: Job) -> str:
    return job.courier.vehicle if job.courier_id else smallest_vehicle_for(job.package_size).value


def _default_eta(job: Job, *, now: datetime) -> dict[str, Any]:
    """No courier position: the typical wait for a courier plus the straight-line trip."""
    trip = straight_line_seconds(haversine_m(job.pickup_point, job.dropoff_point), _vehicle(job))
    start = max(now, job.pickup_after or now)
    wait = 0 if job.status in BEFORE_PICKUP else settings.QUOTE_DEFAULT_PICKUP_ETA_SECONDS
    earliest, latest = _window(start, wait + trip, "low")
    if job.deliver_after is not None:
        earliest = max(earliest, job.deliver_after)
        latest = max(latest, earliest)
    if job.deliver_before is not None and job.deliver_before > earliest:
        latest = min(latest, job.deliver_before)
    return _payload(earliest, latest, "low", "default", now)


def _cache_key(job: Job) -> str:
    return f"tracking-eta:{job.pk}"


def eta_compute(job: Job, fix: Fix, *, now: datetime) -> dict[str, Any]:
    """A fresh estimate from ``fix`` for the job's current status (asks the router)."""
    return eta_from_points(
        status=job.status,
        vehicle=_vehicle(job),
        pickup=job.pickup_point,
        dropoff=job.dropoff_point,
        fix=fix,
        now=now,
    )


def eta_from_points(
    *, status: str, vehicle: str, pickup: Point, dropoff: Point, fix: Fix, now: datetime
) -> dict[str, Any]:
    """``eta_compute`` from the few facts it needs (no ``Job``): the live position path."""
    if status in BEFORE_PICKUP:
        to_pickup, source = _route_seconds(fix.point, pickup, vehicle)
        trip, trip_source = _route_seconds(pickup, dropoff, vehicle)
        seconds = to_pickup + trip
        source = source if source == trip_source else "straight_line"
    else:
        seconds, source = _route_seconds(fix.point, dropoff, vehicle)
    # The estimate runs from the fix's time: the courier has been moving since.
    elapsed = max(0.0, (now - fix.recorded_at).total_seconds())
    remaining = max(0.0, seconds - elapsed)
    confidence = "high" if source == "router" else "medium"
    earliest, latest = _window(now, remaining, confidence)
    return _payload(earliest, latest, confidence, source, now)


def is_router_in_process() -> bool:
    """Whether the configured router answers without I/O (safe on the event loop)."""
    return settings.ROUTER == "straight_line"


def eta_is_stale(fix: Fix, *, now: datetime) -> bool:
    return now - fix.recorded_at > timedelta(seconds=settings.TRACKING_LOCATION_FRESH_SECONDS)


def job_eta(job: Job, *, trusted_fix: Fix | None, now: datetime) -> tuple[dict | None, bool]:
    """The job's current ETA (None once nothing is coming) and whether the fix is stale.

    Reuses the cached estimate while no newer trusted fix or status has arrived.
    """
    if job.status in NO_ETA_STATUSES:
        return None, False
    if job.status not in BEFORE_PICKUP | AFTER_PICKUP or trusted_fix is None:
        return _default_eta(job, now=now), False
    is_stale = eta_is_stale(trusted_fix, now=now)
    basis = f"{job.status}:{job.courier_id}:{trusted_fix.recorded_at.isoformat()}"
    cached = cache.get(_cache_key(job))
    if cached is not None and cached["basis"] == basis:
        eta = dict(cached["eta"])
    else:
        eta = eta_compute(job, trusted_fix, now=now)
        cache.set(_cache_key(job), {"basis": basis, "eta": eta}, CACHE_SECONDS)
    if is_stale:
        eta["confidence"] = "low"
    return eta, is_stale
