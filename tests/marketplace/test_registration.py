"""Sign-up for shops and couriers, sign-in, and every way the input can be wrong."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from couriers.models import Courier
from marketplace.models import Shop, User
from tests.factories import PASSWORD, CourierFactory, ShopUserFactory

SHOP_URL = "/api/v1/auth/register/shop/"
COURIER_URL = "/api/v1/auth/register/courier/"
TOKEN_URL = "/api/v1/auth/token/"


def shop_body(**overrides: object) -> dict[str, object]:
    body = {
        "username": "bakery",
        "password": PASSWORD,
        "email": "owner@bakery.example",
        "shop_name": "Corner Bakery",
        "default_pickup_address": "Torstraße 1, Berlin",
        "default_pickup_point": {"lat": 52.529, "lng": 13.401},
    }
    body.update(overrides)
    return body


def courier_body(**overrides: object) -> dict[str, object]:
    body = {"username": "rider", "password": PASSWORD, "vehicle": "bike", "first_name": "Ada"}
    body.update(overrides)
    return body


def assert_nothing_created() -> None:
    assert User.objects.count() == 0
    assert Shop.objects.count() == 0
    assert Courier.objects.count() == 0
    assert Token.objects.count() == 0


@pytest.mark.django_db
def test_shop_registers_and_the_token_works(api_client: APIClient) -> None:
    response = api_client.post(SHOP_URL, shop_body(), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    user = User.objects.get()
    shop = Shop.objects.get()
    assert body["token"] == Token.objects.get(user=user).key
    assert body["user"] == {
        "id": user.pk,
        "username": "bakery",
        "email": "owner@bakery.example",
        "role": "shop",
    }
    assert body["shop"]["name"] == "Corner Bakery"
    assert body["shop"]["default_pickup_point"] == {"lat": 52.529, "lng": 13.401}
    # Webhooks are set with PUT shop/webhook/, which checks the URL and returns the secret.
    assert body["shop"]["webhook_url"] == ""
    assert user.shop == shop
    assert (shop.default_pickup_point.x, shop.default_pickup_point.y) == (13.401, 52.529)
    assert user.check_password(PASSWORD)

    api_client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    me = api_client.get("/api/v1/shop/me/")
    assert me.status_code == 200
    assert me.json()["id"] == shop.pk


@pytest.mark.django_db
def test_shop_registers_without_optional_fields(api_client: APIClient) -> None:
    body = {"username": "minimal", "password": PASSWORD, "shop_name": "Minimal"}
    response = api_client.post(SHOP_URL, body, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["shop"]["default_pickup_point"] is None
    assert Shop.objects.get().default_pickup_point is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("vehicle", "capacity"),
    [("bike", "small"), ("scooter", "medium"), ("car", "large"), ("van", "xl")],
)
def test_courier_registers_offline_with_the_vehicles_capacity(
    api_client: APIClient, vehicle: str, capacity: str
) -> None:
    response = api_client.post(COURIER_URL, courier_body(vehicle=vehicle), format="json")

    assert response.status_code == 201, response.json()
    courier = Courier.objects.select_related("user").get()
    body = response.json()
    assert body["user"]["role"] == "courier"
    assert body["courier"] == {
        "id": courier.pk,
        "vehicle": vehicle,
        "capacity": capacity,
        "status": "offline",
        "current_point": None,
        "last_seen_at": None,
        "rating": "5.00",
    }
    assert courier.user.first_name == "Ada"
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert api_client.get("/api/v1/courier/me/").json()["id"] == courier.pk


@pytest.mark.django_db
@pytest.mark.parametrize("factory", [ShopUserFactory, lambda: CourierFactory().user])
def test_token_for_each_role(api_client: APIClient, factory) -> None:
    user = factory()
    response = api_client.post(
        TOKEN_URL, {"username": user.username, "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["token"] == user.auth_token.key
    assert response.json()["user"]["role"] == user.role


@pytest.mark.django_db
def test_token_sign_in_ignores_username_case(api_client: APIClient) -> None:
    user = ShopUserFactory(username="MixedCase")
    response = api_client.post(
        TOKEN_URL, {"username": "mixedcase", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["token"] == user.auth_token.key


@pytest.mark.django_db
@pytest.mark.parametrize(
    "credentials",
    [{"username": "nobody", "password": PASSWORD}, {"username": "known", "password": "wrong-pw"}],
)
def test_token_with_bad_credentials(api_client: APIClient, credentials: dict) -> None:
    ShopUserFactory(username="known")
    response = api_client.post(TOKEN_URL, credentials, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_credentials",
        "message": "Unable to sign in with these credentials.",
        "fields": {},
    }


@pytest.mark.django_db
def test_token_for_a_deactivated_user_is_refused(api_client: APIClient) -> None:
    user = ShopUserFactory(is_active=False)
    response = api_client.post(
        TOKEN_URL, {"username": user.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_credentials"


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["bakery", "BAKERY"])
def test_duplicate_username_is_refused_and_nothing_half_created(
    api_client: APIClient, username: str
) -> None:
    assert api_client.post(SHOP_URL, shop_body(), format="json").status_code == 201

    response = api_client.post(
        SHOP_URL, shop_body(username=username, shop_name="Second"), format="json"
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["fields"] == {"username": ["A user with that username already exists."]}
    assert "username" in body["message"]
    # The second shop row was rolled back with the user.
    assert list(Shop.objects.values_list("name", flat=True)) == ["Corner Bakery"]
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_courier_cannot_take_a_shop_users_name(api_client: APIClient) -> None:
    ShopUserFactory(username="taken")
    response = api_client.post(COURIER_URL, courier_body(username="Taken"), format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {"username": ["A user with that username already exists."]}
    assert Courier.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_signups_with_one_username_have_one_winner() -> None:
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def sign_up(index: int) -> None:
        try:
            barrier.wait()
            response = APIClient().post(
                SHOP_URL, shop_body(shop_name=f"Shop {index}"), format="json"
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_up, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201] + [400] * 7
    assert User.objects.count() == 1
    assert Shop.objects.count() == 1


@pytest.mark.django_db
def test_weak_password_is_refused_with_the_reason(api_client: APIClient) -> None:
    response = api_client.post(SHOP_URL, shop_body(password="12345678"), format="json")

    assert response.status_code == 400
    fields = response.json()["fields"]
    assert list(fields) == ["password"]
    assert "This password is too common." in fields["password"]
    assert_nothing_created()


@pytest.mark.django_db
def test_missing_fields_are_each_named(api_client: APIClient) -> None:
    response = api_client.post(SHOP_URL, {}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["fields"] == {
        "username": ["This field is required."],
        "password": ["This field is required."],
        "shop_name": ["This field is required."],
    }
    assert body["message"].startswith("Invalid input. username: This field is required.")
    assert_nothing_created()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"username": ["a", "list"]}, "username", "A string is required."),
        ({"username": 12345678}, "username", "A string is required."),
        ({"username": "has space"}, "username", "Use letters, digits and @ . + - _ only."),
        ({"shop_name": {"an": "object"}}, "shop_name", "A string is required."),
        ({"shop_name": 42}, "shop_name", "A string is required."),
        ({"phone": 4930123}, "phone", "A string is required."),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"username": "x" * 151}, "username", "Ensure this field has no more than 150 characters."),
    ],
)
def test_wrong_types_and_formats_name_the_field(
    api_client: APIClient, overrides: dict, field: str, message: str
) -> None:
    response = api_client.post(SHOP_URL, shop_body(**overrides), format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {field: [message]}
    assert_nothing_created()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("point", "errors"),
    [
        ({"lat": 91, "lng": 13.4}, {"lat": ["Ensure this value is less than or equal to 90."]}),
        ({"lat": -90.5, "lng": 0}, {"lat": ["Ensure this value is greater than or equal to -90."]}),
        ({"lat": 52.5, "lng": 181}, {"lng": ["Ensure this value is less than or equal to 180."]}),
        ({"lat": "52.5", "lng": 13.4}, {"lat": ["A number is required."]}),
        ({"lat": True, "lng": 13.4}, {"lat": ["A number is required."]}),
        ({"lat": 52.5}, {"lng": ["This field is required."]}),
        ("52.5,13.4", {"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}),
    ],
)
def test_out_of_range_or_mistyped_coordinates(
    api_client: APIClient, point: object, errors: dict
) -> None:
    response = api_client.post(SHOP_URL, shop_body(default_pickup_point=point), format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {"default_pickup_point": errors}
    assert "default_pickup_point" in response.json()["message"]
    assert_nothing_created()


@pytest.mark.django_db
def test_unknown_vehicle_is_refused(api_client: APIClient) -> None:
    response = api_client.post(COURIER_URL, courier_body(vehicle="rocket"), format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {"vehicle": ['"rocket" is not a valid choice.']}
    assert_nothing_created()


@pytest.mark.django_db
def test_malformed_json(api_client: APIClient) -> None:
    response = api_client.post(SHOP_URL, b'{"username": ', content_type="application/json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "parse_error"
    assert body["message"].startswith("JSON parse error")
    assert_nothing_created()


@pytest.mark.django_db
def test_body_that_is_not_an_object(api_client: APIClient) -> None:
    response = api_client.post(SHOP_URL, [shop_body()], format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {
        "non_field_errors": ["Invalid data. Expected a dictionary, but got list."]
    }
    assert_nothing_created()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_unknown_content_type(api_client: APIClient, content_type: str) -> None:
    response = api_client.post(SHOP_URL, "username=x", content_type=content_type)

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert content_type in response.json()["message"]
    assert_nothing_created()


@pytest.mark.django_db
def test_sign_in_is_throttled(api_client: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # Throttle classes copy their rates from the settings at import time.
    rates = {**ScopedRateThrottle.THROTTLE_RATES, "auth": "3/min"}
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", rates)

    responses = [
        api_client.post(TOKEN_URL, {"username": "a", "password": "b"}, format="json")
        for _ in range(4)
    ]

    assert [response.status_code for response in responses] == [400, 400, 400, 429]
    throttled = responses[-1]
    assert throttled.json()["code"] == "throttled"
    assert throttled.json()["message"].startswith("Request was throttled.")
    assert 0 < int(throttled["Retry-After"]) <= 60


@pytest.mark.django_db
@pytest.mark.parametrize(
    "username", ["Ë", "bäcker", "\uff42akery", " bakery", "bakery ", "two words"]
)
@pytest.mark.parametrize(("url", "body"), [(SHOP_URL, shop_body), (COURIER_URL, courier_body)])
def test_a_new_username_is_what_the_schemas_pattern_says(
    api_client: APIClient, url: str, body, username: str
) -> None:
    response = api_client.post(url, body(username=username), format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert list(response.json()["fields"]) == ["username"]
    assert User.objects.count() == 0
    assert (Shop.objects.count(), Courier.objects.count()) == (0, 0)
