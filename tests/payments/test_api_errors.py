"""The payment endpoints' refusals: Stripe unconfigured is a 503 (never a 500), bodies and
query strings are read as strictly as the schema says, and what they refuse stores nothing."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from payments.models import CourierPayoutAccount, ShopBilling, StripeEvent, Tip
from tests.conftest import STANDIN_WEBHOOK_SECRET, client_for
from tests.factories import CourierFactory, ShopUserFactory
from tests.payments.test_webhooks import CONNECT_URL, URL, signed

pytestmark = pytest.mark.django_db
UNAVAILABLE = {
    "code": "payment_unavailable",
    "message": "The payment provider did not answer; try again.",
    "fields": {},
}


@pytest.fixture
def no_stripe(settings) -> None:
    """A server with no STRIPE_SECRET_KEY: the gateway cannot be built."""
    settings.STRIPE_SECRET_KEY = ""


def test_onboarding_without_stripe_is_503_and_creates_no_account(no_stripe) -> None:
    courier = CourierFactory()

    response = client_for(courier.user).post("/api/v1/courier/payouts/onboarding/")

    assert (response.status_code, response.json()) == (503, UNAVAILABLE)
    assert CourierPayoutAccount.objects.count() == 0


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/payments/shop/setup-intent/", None),
        ("put", "/api/v1/payments/shop/payment-method/", {"payment_method": "pm_card_visa"}),
    ],
    ids=["setup-intent", "payment-method"],
)
def test_card_endpoints_without_stripe_are_503_and_save_nothing(
    no_stripe, method: str, path: str, body: dict | None
) -> None:
    client = client_for(ShopUserFactory(shop__payment_method=False))

    response = getattr(client, method)(path, body, format="json")

    assert (response.status_code, response.json()) == (503, UNAVAILABLE)
    assert ShopBilling.objects.count() == 0


@pytest.mark.parametrize("url", [URL, CONNECT_URL], ids=["platform", "connect"])
def test_a_webhook_without_stripe_is_503_and_stores_nothing(
    no_stripe, stripe_standin, api_client: APIClient, url: str
) -> None:
    payload = b'{"id": "evt_1", "type": "payout.paid"}'

    response = api_client.post(
        url,
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signed(payload, STANDIN_WEBHOOK_SECRET),
    )

    assert (response.status_code, response.json()) == (503, UNAVAILABLE)
    assert StripeEvent.objects.count() == 0


@pytest.mark.parametrize("url", [URL, CONNECT_URL], ids=["platform", "connect"])
def test_a_webhook_body_that_is_not_utf8_is_an_invalid_signature(stripe_standin, url: str) -> None:
    payload = b'{"id": "evt_\xff\xfe", "type": "payout.paid"}'

    response = Client().post(
        url,
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signed(payload, STANDIN_WEBHOOK_SECRET),
    )

    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_signature",
        "message": "The Stripe-Signature header is missing, wrong or too old.",
        "fields": {},
    }
    assert StripeEvent.objects.count() == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("to=", "to"),
        ("from=", "from"),
        ("from=2026-1-5", "from"),
        ("to=20260105", "to"),
        ("from=2026-02-30", "from"),
        ("to=2026-01-05T00:00:00Z", "to"),
        ("from=%D9%A2%D9%A0%D9%A2%D9%A6-01-05", "from"),
    ],
)
def test_earnings_dates_are_yyyy_mm_dd_named_as_sent(query: str, field: str) -> None:
    courier = CourierFactory()

    response = client_for(courier.user).get(f"/api/v1/courier/earnings/?{query}")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert list(body["fields"]) == [field]


def test_earnings_within_dates_answer_the_documented_shape() -> None:
    courier = CourierFactory()

    response = client_for(courier.user).get(
        "/api/v1/courier/earnings/?from=0001-01-01&to=9999-12-31"
    )

    assert (response.status_code, response.json()) == (
        200,
        {"owed": {}, "transferred": {}, "jobs": []},
    )


@pytest.mark.parametrize("amount", ["100", 100.0, True, 49, 10_000_001, None])
def test_a_tip_amount_is_a_whole_number_from_stripes_minimum(amount: object) -> None:
    shop = ShopUserFactory(shop__payment_method=False)

    response = client_for(shop).post(
        "/api/v1/jobs/00000000-0000-4000-8000-000000000000/tip/",
        {"amount_minor": amount},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert list(response.json()["fields"]) == ["amount_minor"]
    assert Tip.objects.count() == 0


def test_the_schema_states_the_payment_endpoints_rules(client: Client) -> None:
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()[
        "paths"
    ]

    earnings = paths["/api/v1/courier/earnings/"]["get"]
    assert [(p["name"], p["schema"]) for p in earnings["parameters"]] == [
        ("from", {"type": "string", "format": "date"}),
        ("to", {"type": "string", "format": "date"}),
    ]
    assert sorted(earnings["responses"]) == ["200", "400", "401", "403", "429"]
    for url in (URL, CONNECT_URL):
        webhook = paths[url]["post"]
        (signature,) = webhook["parameters"]
        assert (signature["name"], signature["in"], signature["required"]) == (
            "Stripe-Signature",
            "header",
            True,
        )
        assert "`invalid_signature`" in webhook["responses"]["400"]["description"]
        assert "503" in webhook["responses"]
    onboarding = paths["/api/v1/courier/payouts/onboarding/"]["post"]["responses"]
    assert sorted(onboarding) == ["200", "400", "401", "403", "409", "413", "415", "429", "503"]
    assert "`sandbox_live_key`" in onboarding["409"]["description"]
