"""Shared fixtures: API clients per role, a clean Redis test database."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from couriers.models import Courier
from marketplace.models import User
from tests.factories import CourierFactory, ShopUserFactory, UserFactory
from tests.workers import running_cluster


@pytest.fixture(autouse=True)
def _clean_redis() -> None:
    """Throttle counters live in Redis; each test starts from an empty test database."""
    cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {user.auth_token.key}")
    return client


@pytest.fixture
def shop_user(db: None) -> User:
    return ShopUserFactory()


@pytest.fixture
def courier(db: None) -> Courier:
    return CourierFactory()


@pytest.fixture
def staff_user(db: None) -> User:
    return UserFactory(is_staff=True)


@pytest.fixture
def shop_client(shop_user: User) -> APIClient:
    return client_for(shop_user)


@pytest.fixture
def courier_client(courier: Courier) -> APIClient:
    return client_for(courier.user)


@pytest.fixture
def worker_cluster(django_db_setup: None) -> Iterator[subprocess.Popen]:
    """A real ``manage.py qcluster`` (one worker) on this test slot's database and Redis."""
    with running_cluster() as process:
        yield process


@pytest.fixture
def webhook_worker_cluster(django_db_setup: None) -> Iterator[subprocess.Popen]:
    """A real webhook cluster (``Q_CLUSTER_NAME=webhooks manage.py qcluster``, one worker)."""
    with running_cluster(
        cluster=settings.WEBHOOK_CLUSTER, WEBHOOK_ALLOW_INSECURE_URLS="true"
    ) as process:
        yield process
