"""The admin sign-in page locks out per username and per client address, in Redis."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from marketplace.models import User
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN_URL = "/admin/login/"
ATTACKER = "203.0.113.7"
ELSEWHERE = "198.51.100.20"


@pytest.fixture
def admin_user() -> User:
    return UserFactory(username="boss", is_staff=True, is_superuser=True)


def sign_in(username: str, password: str, *, address: str) -> tuple[Client, Any]:
    client = Client(REMOTE_ADDR=address)
    response = client.post(LOGIN_URL, {"username": username, "password": password})
    return client, response


def is_signed_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def test_forty_wrong_passwords_lock_the_username_and_the_right_one_gets_nowhere(
    admin_user: User,
) -> None:
    statuses = [sign_in("boss", "wrong", address=ATTACKER)[1].status_code for _ in range(40)]

    assert statuses == [200] * 5 + [429] * 35
    client, response = sign_in("boss", PASSWORD, address=ATTACKER)
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    assert b"Too many failed sign-in attempts" in response.content
    assert not is_signed_in(client)
    admin_user.refresh_from_db()
    assert admin_user.last_login is None


def test_the_username_lock_holds_from_another_address_and_in_another_case(
    admin_user: User,
) -> None:
    for _ in range(5):
        sign_in("boss", "wrong", address=ATTACKER)

    client, response = sign_in("BOSS", PASSWORD, address=ELSEWHERE)

    assert response.status_code == 429
    assert not is_signed_in(client)


def test_another_username_from_the_same_address_is_unaffected(admin_user: User) -> None:
    UserFactory(username="deputy", is_staff=True, is_superuser=True)
    for _ in range(5):
        sign_in("boss", "wrong", address=ATTACKER)

    client, response = sign_in("deputy", PASSWORD, address=ATTACKER)

    assert response.status_code == 302
    assert is_signed_in(client)


def test_many_usernames_from_one_address_lock_that_address_only(admin_user: User) -> None:
    statuses = [
        sign_in(f"guess{number}", "wrong", address=ATTACKER)[1].status_code for number in range(25)
    ]

    assert statuses == [200] * 20 + [429] * 5
    _, response = sign_in("boss", PASSWORD, address=ATTACKER)
    assert response.status_code == 429
    client, response = sign_in("boss", PASSWORD, address=ELSEWHERE)
    assert response.status_code == 302
    assert is_signed_in(client)


def test_a_successful_sign_in_clears_the_usernames_failures(admin_user: User) -> None:
    for _ in range(4):
        sign_in("boss", "wrong", address=ATTACKER)
    assert sign_in("boss", PASSWORD, address=ELSEWHERE)[1].status_code == 302

    statuses = [sign_in("boss", "wrong", address=ELSEWHERE)[1].status_code for _ in range(5)]

    assert statuses == [200] * 5


def test_the_counts_live_in_the_shared_cache(admin_user: User) -> None:
    for _ in range(5):
        sign_in("boss", "wrong", address=ATTACKER)
    assert sign_in("boss", PASSWORD, address=ELSEWHERE)[1].status_code == 429

    cache.clear()  # what another node sees is the same Redis: clearing it unlocks everywhere

    assert sign_in("boss", PASSWORD, address=ELSEWHERE)[1].status_code == 302


def test_the_limits_are_settings(settings: Any, admin_user: User) -> None:
    settings.ADMIN_LOGIN_MAX_FAILURES = 2
    settings.ADMIN_LOGIN_LOCKOUT_SECONDS = 60

    statuses = [sign_in("boss", "wrong", address=ATTACKER)[1].status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    _, response = sign_in("boss", PASSWORD, address=ELSEWHERE)
    assert (response.status_code, response["Retry-After"]) == (429, "60")
    assert b"locked for 1 minute;" in response.content


def test_the_login_page_itself_still_renders(db: None) -> None:
    response = Client().get(LOGIN_URL)

    assert response.status_code == 200
    assert b'name="password"' in response.content
