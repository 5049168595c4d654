"""Payments fixtures: a Berlin zone with default prices (as the jobs tests use)."""

from __future__ import annotations

import pytest

from jobs.models import ServiceZone
from tests.factories import ServiceZoneFactory


@pytest.fixture
def zone(db: None) -> ServiceZone:
    return ServiceZoneFactory(name="Berlin")
