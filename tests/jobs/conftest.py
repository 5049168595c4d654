"""Shared jobs fixtures: a Berlin zone, request bodies, shops, couriers near a point, a worker."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone
from rest_framework.test import APIClient

from couriers.models import Courier, CourierStatus
from jobs.models import ServiceZone
from marketplace.models import User
from tests.conftest import client_for
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
