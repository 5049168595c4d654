"""Throttles key on the client address as NUM_PROXIES says to read it."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
PROXY = "10.0.0.1"


@pytest.fixture(autouse=True)
def _three_sign_ins_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    # Throttle classes copy their rates from the settings at import time.
    rates = {**ScopedRateThrottle.THROTTLE_RATES, "auth": "3/min"}
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", rates)


def with_proxies(settings, count: int) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": count}


def sign_in(forwarded_for: str | None, remote_addr: str = PROXY) -> int:
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    response = APIClient().post(
        TOKEN_URL, {"username": "a", "password": "b"}, format="json", **extra
    )
    return response.status_code


def test_behind_one_proxy_each_client_address_has_its_own_allowance(settings) -> None:
    with_proxies(settings, 1)

    first_client = [sign_in("203.0.113.7") for _ in range(4)]
    second_client = sign_in("203.0.113.8")

    assert first_client == [400, 400, 400, 429]
    assert second_client == 400  # same proxy, another client: not throttled


def test_behind_one_proxy_a_forged_first_hop_does_not_escape_the_throttle(settings) -> None:
    with_proxies(settings, 1)
    # The client sends its own X-Forwarded-For; our proxy appends the address it saw.
    codes = [sign_in(f"198.51.100.{n}, 203.0.113.7") for n in range(4)]

    assert codes == [400, 400, 400, 429]


def test_behind_two_proxies_the_address_two_hops_back_counts(settings) -> None:
    with_proxies(settings, 2)

    codes = [sign_in(f"203.0.113.7, 10.1.1.{n}") for n in range(4)]
    other = sign_in("203.0.113.9, 10.1.1.1")

    assert codes == [400, 400, 400, 429]
    assert other == 400


def test_without_proxies_forwarded_for_is_ignored(settings) -> None:
    with_proxies(settings, 0)

    codes = [sign_in(f"203.0.113.{n}", remote_addr="192.0.2.10") for n in range(4)]
    elsewhere = sign_in("203.0.113.1", remote_addr="192.0.2.11")

    assert codes == [400, 400, 400, 429]
    assert elsewhere == 400
