"""Courier-test fixtures: the writer thread never outlives a test; a real qcluster."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from couriers.ingest import location_buffer
from couriers.models import Courier, CourierStatus
from tests.factories import CourierFactory


@pytest.fixture(autouse=True)
def _stop_location_writer() -> Iterator[None]:
    """Its thread holds a database connection; stop it (flushing) before the test ends."""
    yield
    location_buffer.stop()


def fix(
    lat: float = 52.52,
    lng: float = 13.405,
    *,
    at: datetime | None = None,
    ago: float = 0.0,
    **extra: Any,
) -> dict[str, Any]:
    """A location message body recorded ``ago`` seconds before now (or ``at``)."""
    recorded_at = at or timezone.now() - timedelta(seconds=ago)
    return {"lat": lat, "lng": lng, "recorded_at": recorded_at.isoformat(), **extra}


def online_courier(**kwargs: Any) -> Courier:
    """An available courier with a trusted, fresh position in central Berlin."""
    defaults = {
        "status": CourierStatus.AVAILABLE,
        "current_point": Point(13.405, 52.52, srid=4326),
        "position_recorded_at": timezone.now() - timedelta(seconds=5),
        "is_position_trusted": True,
        "last_seen_at": timezone.now(),
    }
    return CourierFactory(**{**defaults, **kwargs})
