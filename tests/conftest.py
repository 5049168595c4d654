"""Shared fixtures: API clients per role, a clean Redis test database."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.factories import CourierFactory, ShopUserFactory, UserFactory


@pytest.fixture(autouse=True)
def _clean_redis() -> None:
    """Throttle counters live in Redis; each test starts from an empty test database."""
    cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {user.auth_token.key}")
    return client


@pytest.fixture
def shop_user(db):
    return ShopUserFactory()


@pytest.fixture
def courier(db):
    return CourierFactory()


@pytest.fixture
def staff_user(db):
    return UserFactory(is_staff=True)


@pytest.fixture
def shop_client(shop_user) -> APIClient:
    return client_for(shop_user)


@pytest.fixture
def courier_client(courier) -> APIClient:
    return client_for(courier.user)
