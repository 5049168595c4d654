"""Authentication and role checks, and the error shape of framework-level failures."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from couriers.models import Courier
from tests.conftest import client_for

SHOP_ME = "/api/v1/shop/me/"
COURIER_ME = "/api/v1/courier/me/"


@pytest.mark.django_db
@pytest.mark.parametrize("url", [SHOP_ME, COURIER_ME])
def test_protected_endpoints_need_a_token(api_client: APIClient, url: str) -> None:
    response = api_client.get(url)

    assert response.status_code == 401
    assert response.json() == {
        "code": "not_authenticated",
        "message": "Authentication credentials were not provided.",
        "fields": {},
    }
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["Token wrong", "Token ", "Bearer abc", "Token a b"])
def test_bad_tokens_are_refused(api_client: APIClient, header: str) -> None:
    api_client.credentials(HTTP_AUTHORIZATION=header)
    response = api_client.get(COURIER_ME)

    assert response.status_code == 401
    assert response.json()["code"] in {"authentication_failed", "not_authenticated"}


@pytest.mark.django_db
def test_a_deactivated_users_token_stops_working(courier: Courier) -> None:
    client = client_for(courier.user)
    assert client.get(COURIER_ME).status_code == 200

    courier.user.is_active = False
    courier.user.save(update_fields=["is_active"])

    response = client.get(COURIER_ME)
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid or revoked token."


def test_courier_token_on_a_shop_endpoint_is_forbidden(courier_client: APIClient) -> None:
    response = courier_client.get(SHOP_ME)

    assert response.status_code == 403
    assert response.json() == {
        "code": "permission_denied",
        "message": "This endpoint is for shop accounts.",
        "fields": {},
    }


def test_shop_token_on_a_courier_endpoint_is_forbidden(shop_client: APIClient) -> None:
    response = shop_client.get(COURIER_ME)

    assert response.status_code == 403
    assert response.json()["message"] == "This endpoint is for courier accounts."


def test_staff_are_neither_shop_nor_courier(staff_user) -> None:
    client = client_for(staff_user)
    assert client.get(SHOP_ME).status_code == 403
    assert client.get(COURIER_ME).status_code == 403


def test_each_role_reads_its_own_profile(shop_client: APIClient, shop_user, courier) -> None:
    assert shop_client.get(SHOP_ME).json()["id"] == shop_user.shop_id
    assert client_for(courier.user).get(COURIER_ME).json()["id"] == courier.pk


def test_authenticated_request_costs_one_query_for_the_user(
    courier_client: APIClient, django_assert_num_queries
) -> None:
    # Token, user, shop and courier in one SELECT; the view needs nothing else.
    with django_assert_num_queries(1):
        assert courier_client.get(COURIER_ME).status_code == 200


@pytest.mark.django_db
def test_unknown_api_route_is_a_json_404(api_client: APIClient) -> None:
    response = api_client.get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "message": "No route for /api/v1/no-such-thing/.",
        "fields": {},
    }


def test_wrong_method_is_a_json_405(courier_client: APIClient) -> None:
    response = courier_client.delete(COURIER_ME)

    assert response.status_code == 405
    assert response.json() == {
        "code": "method_not_allowed",
        "message": 'Method "DELETE" not allowed.',
        "fields": {},
    }
