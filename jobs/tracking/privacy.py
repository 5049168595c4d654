"""Who may see the courier's position, when, and how precisely.

The recipient sees it only between pickup and delivery (``picked_up``, ``at_dropoff``),
snapped to a ~50 m grid, and only while the fix is fresh; never a breadcrumb. The shop
sees it exactly while a courier holds its job (from assignment until the job ends,
returns included). After the job ends nobody but staff does.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from jobs.models import COURIER_ACTIVE_STATUSES, JobStatus

RECIPIENT_LOCATION_STATUSES = frozenset({JobStatus.PICKED_UP, JobStatus.AT_DROPOFF})
SHOP_LOCATION_STATUSES = frozenset(COURIER_ACTIVE_STATUSES)
GRID_M = 50.0
_METRES_PER_DEGREE = 111_320.0
HEADING_STEP_DEGREES = 15


def is_fix_fresh(recorded_at: datetime, *, now: datetime) -> bool:
    return now - recorded_at <= timedelta(seconds=settings.TRACKING_LOCATION_FRESH_SECONDS)


def recipient_may_see_location(status: str) -> bool:
    return status in RECIPIENT_LOCATION_STATUSES


def shop_may_see_location(status: str) -> bool:
    return status in SHOP_LOCATION_STATUSES


def round_to_grid(lat: float, lng: float, *, grid_m: float = GRID_M) -> tuple[float, float]:
    """Snap a point to the centre of its ~``grid_m`` cell.

    A fixed grid (not random noise) so that averaging many frames gains nothing: every fix
    inside a cell gives the same answer. The longitude step follows the snapped latitude,
    so the cells are about square anywhere but the poles.
    """
    lat_step = grid_m / _METRES_PER_DEGREE
    snapped_lat = (math.floor(lat / lat_step) + 0.5) * lat_step
    snapped_lat = max(-90.0, min(90.0, snapped_lat))
    cos_lat = max(math.cos(math.radians(snapped_lat)), 0.01)
    lng_step = grid_m / (_METRES_PER_DEGREE * cos_lat)
    snapped_lng = (math.floor(lng / lng_step) + 0.5) * lng_step
    snapped_lng = ((snapped_lng + 180.0) % 360.0) - 180.0
    return round(snapped_lat, 6), round(snapped_lng, 6)


def round_heading(heading: float | None) -> int | None:
    if heading is None:
        return None
    return int(round(heading / HEADING_STEP_DEGREES) * HEADING_STEP_DEGREES) % 360


def recipient_location(
    *, lat: float, lng: float, heading: float | None, recorded_at: datetime
) -> dict[str, Any]:
    """The recipient's view of one fix: snapped, heading coarsened, no speed."""
    snapped_lat, snapped_lng = round_to_grid(lat, lng)
    return {
        "lat": snapped_lat,
        "lng": snapped_lng,
        "heading": round_heading(heading),
        "recorded_at": recorded_at.isoformat(),
    }


def shop_location(
    *,
    job_pk: object,
    lat: float,
    lng: float,
    heading: float | None,
    speed_mps: float | None,
    recorded_at: datetime,
) -> dict[str, Any]:
    """The shop's ``courier_location`` frame: the fix as the courier sent it."""
    return {
        "type": "courier_location",
        "job_id": str(job_pk),
        "lat": lat,
        "lng": lng,
        "heading": heading,
        "speed_mps": speed_mps,
        "recorded_at": recorded_at.isoformat(),
    }
