"""Courier-test fixtures: the writer thread never outlives a test; a real qcluster."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.gis.geos import Point
from django.utils import timezone

from couriers.ingest import location_buffer
from couriers.models import Courier, CourierStatus
from marketplace.health import check_worker
from tests.e2e_server import database_url
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


def _wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def worker_cluster(django_db_setup: None) -> Iterator[subprocess.Popen]:
    """A real ``manage.py qcluster`` on this slot's test database and Redis."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "marketplace.test_settings",
        "DATABASE_URL": database_url(settings.DATABASES["default"]),
        "Q_WORKERS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        if not _wait_for(lambda: check_worker()["ok"] or process.poll() is not None, 30):
            pytest.fail("the django-q2 cluster sent no heartbeat within 30 s")
        if process.poll() is not None:
            pytest.fail(f"qcluster exited: {process.stderr.read().decode()[-2000:]}")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    _wait_for(lambda: not check_worker()["ok"], 10)
