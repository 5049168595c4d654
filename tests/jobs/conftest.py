"""Shared jobs fixtures: a Berlin zone, request bodies, shops, couriers near a point, a worker."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.gis.geos import Point
from django.utils import timezone
from rest_framework.test import APIClient

from couriers.models import Courier, CourierStatus
from jobs.models import ServiceZone
from marketplace.health import check_worker
from marketplace.models import User
from tests.conftest import client_for
from tests.e2e_server import database_url
from tests.factories import CourierFactory, ServiceZoneFactory, ShopUserFactory

ROOT = Path(__file__).resolve().parents[2]

ALEXANDERPLATZ = {"lat": 52.5219, "lng": 13.4132}
POTSDAMER_PLATZ = {"lat": 52.5096, "lng": 13.3760}
MUNICH = {"lat": 48.1374, "lng": 11.5755}


def stop_body(place: dict[str, float], address: str, **extra: Any) -> dict[str, Any]:
    return {"address": address, **place, **extra}


def trip_body(**overrides: Any) -> dict[str, Any]:
    """A valid quote body: Alexanderplatz to Potsdamer Platz, a small parcel, ASAP."""
    body = {
        "pickup": stop_body(
            ALEXANDERPLATZ,
            "Alexanderplatz 1, Berlin",
            contact_name="Kim Shopkeeper",
            contact_phone="+4930111111",
            instructions="Back door",
        ),
        "dropoff": stop_body(
            POTSDAMER_PLATZ,
            "Potsdamer Platz 1, Berlin",
            contact_name="Robin Recipient",
            contact_phone="+4930222222",
        ),
        "package": {"size": "small", "weight_g": 1200, "value_minor": 4500, "description": "Book"},
    }
    body.update(overrides)
    return body


@pytest.fixture
def zone(db: None) -> ServiceZone:
    """Central Berlin with the model's default prices."""
    return ServiceZoneFactory(name="Berlin")


@pytest.fixture
def other_shop_user(db: None) -> User:
    return ShopUserFactory()


@pytest.fixture
def other_shop_client(other_shop_user: User) -> APIClient:
    return client_for(other_shop_user)


@pytest.fixture
def staff_client(staff_user: User) -> APIClient:
    return client_for(staff_user)


def online_courier(lat: float, lng: float, **kwargs: Any) -> Courier:
    """A matchable courier: available, with a trusted position reported 5 s ago."""
    defaults = {
        "status": CourierStatus.AVAILABLE,
        "current_point": Point(lng, lat, srid=4326),
        "position_recorded_at": timezone.now() - timedelta(seconds=5),
        "is_position_trusted": True,
        "last_seen_at": timezone.now(),
    }
    return CourierFactory(**{**defaults, **kwargs})


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def worker_cluster(django_db_setup: None) -> Iterator[subprocess.Popen]:
    """A real `manage.py qcluster` on this slot's test database and Redis."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "marketplace.test_settings",
        "DATABASE_URL": database_url(settings.DATABASES["default"]),
        "Q_WORKERS": "1",
    }
    # A file, not a pipe: a chatty worker would block on a full pipe nobody reads.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            if not wait_for(lambda: check_worker()["ok"] or process.poll() is not None, 30):
                pytest.fail("the django-q2 cluster sent no heartbeat within 30 s")
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(f"qcluster exited: {log.read().decode(errors='replace')[-2000:]}")
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    # Its heartbeat expires 3 s after the last beat.
    wait_for(lambda: not check_worker()["ok"], 10)
