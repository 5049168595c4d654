"""Shared fixtures: API clients per role, a clean Redis test database."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from couriers.models import Courier
from marketplace.models import User
from payments.standin import StandinServer
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


# --- Stripe stand-in -------------------------------------------------------------------------

STANDIN_SECRET_KEY = "sk_test_standin"
STANDIN_WEBHOOK_SECRET = "whsec_standin_platform"
STANDIN_CONNECT_WEBHOOK_SECRET = "whsec_standin_connect"


@pytest.fixture(scope="session", autouse=True)
def stripe_standin() -> Iterator[StandinServer]:
    """The loopback Stripe stand-in, and every Stripe setting pointed at it for the session.

    The environment is set too, so worker clusters and servers started as subprocesses
    talk to the same stand-in. No test can reach api.stripe.com by accident.
    """
    server = StandinServer(api_key=STANDIN_SECRET_KEY)
    base_url = server.start()
    overrides = {
        "STRIPE_API_BASE": base_url,
        "STRIPE_SECRET_KEY": STANDIN_SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": STANDIN_WEBHOOK_SECRET,
        "STRIPE_CONNECT_WEBHOOK_SECRET": STANDIN_CONNECT_WEBHOOK_SECRET,
        "STRIPE_STANDIN": "true",
    }
    saved_settings = {name: getattr(settings, name, None) for name in overrides}
    saved_env = {name: os.environ.get(name) for name in overrides}
    for name, value in overrides.items():
        setattr(settings, name, value if name != "STRIPE_STANDIN" else True)
        os.environ[name] = value
    try:
        yield server
    finally:
        for name, value in saved_settings.items():
            setattr(settings, name, value)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()


@pytest.fixture
def standin(stripe_standin: StandinServer) -> Iterator[StandinServer]:
    """The stand-in with no objects, keys, events or webhook endpoints left from other tests."""
    stripe_standin.reset()
    stripe_standin.deliverer.endpoints.clear()
    yield stripe_standin
    stripe_standin.deliverer.endpoints.clear()
    stripe_standin.reset()
