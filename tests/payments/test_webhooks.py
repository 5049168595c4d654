"""Stripe webhooks: signatures checked (bad or stale: 400, nothing stored), each event stored
once by id, and handling that has one effect however often and in whatever order it runs."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
import requests

from payments.models import JournalEntry, StripeEvent, Transfer
from payments.webhooks import stripe_event_handle
from tests.conftest import STANDIN_CONNECT_WEBHOOK_SECRET, STANDIN_WEBHOOK_SECRET, client_for
from tests.factories import CourierFactory, ShopUserFactory
from tests.payments.helpers import (
    balances,
    courier_with_payouts,
    differences,
    drain,
    post_job,
    standin_objects,
    walk,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/payments/stripe/webhook/"
CONNECT_URL = "/api/v1/payments/stripe/connect-webhook/"


def signed(payload: bytes, secret: str, *, at: int | None = None) -> str:
    """A Stripe-Signature header as Stripe builds it: HMAC-SHA256 of "<t>.<payload>"."""
    timestamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def event(event_id: str, kind: str, obj: dict[str, Any], **extra: Any) -> bytes:
    body = {"id": event_id, "object": "event", "type": kind, "data": {"object": obj}, **extra}
    return json.dumps(body).encode()


def deliver(api_client, url: str, payload: bytes, signature: str):
    return api_client.post(
        url, data=payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "t=1,v1=deadbeef",
        signed(b"other body", STANDIN_WEBHOOK_SECRET),
        "other-secret",
        "stale",
    ],
    ids=["missing", "garbage", "other-body", "other-secret", "stale"],
)
def test_a_bad_or_stale_signature_is_400_and_nothing_is_stored(
    api_client, stripe_standin, signature
) -> None:
    payload = event("evt_bad", "payout.paid", {"id": "po_1"})
    if signature == "stale":
        signature = signed(payload, STANDIN_WEBHOOK_SECRET, at=int(time.time()) - 301)
    elif signature == "other-secret":
        signature = signed(payload, "whsec_wrong")

    response = deliver(api_client, URL, payload, signature)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_signature"
    assert StripeEvent.objects.count() == 0


def test_platform_secret_does_not_open_the_connect_endpoint(api_client, stripe_standin) -> None:
    payload = event("evt_x", "account.updated", {"id": "acct_1"})

    response = deliver(api_client, CONNECT_URL, payload, signed(payload, STANDIN_WEBHOOK_SECRET))

    assert response.status_code == 400
    assert StripeEvent.objects.count() == 0


def test_an_event_is_stored_once_and_a_replay_is_a_duplicate(api_client, stripe_standin) -> None:
    payload = event("evt_once", "charge.dispute.created", {"id": "dp_1", "charge": "ch_1"})

    first = deliver(api_client, URL, payload, signed(payload, STANDIN_WEBHOOK_SECRET))
    again = deliver(api_client, URL, payload, signed(payload, STANDIN_WEBHOOK_SECRET))

    assert first.status_code == again.status_code == 200
    assert first.json() == {"received": True, "duplicate": False}
    assert again.json() == {"received": True, "duplicate": True}
    stored = StripeEvent.objects.get()
    assert (stored.event_id, stored.type, stored.connect) == (
        "evt_once",
        "charge.dispute.created",
        False,
    )


def test_account_updated_releases_held_transfers_once_however_often_handled(
    api_client, standin, zone
) -> None:
    shop = ShopUserFactory()
    courier = CourierFactory()
    account_id = courier_with_payouts(courier, standin, enabled=False)
    job_id = post_job(client_for(shop)).json()["id"]
    job = walk(job_id, "delivered", courier=courier)
    drain()
    assert Transfer.objects.get(job_id=job_id).state == "held"
    # Stripe finishes onboarding; the account.updated event reaches the Connect endpoint.
    requests.post(f"{standin.base_url}/_standin/accounts/{account_id}/onboard", timeout=5)
    payload = event("evt_acct", "account.updated", {"id": account_id}, account=account_id)
    response = deliver(
        api_client, CONNECT_URL, payload, signed(payload, STANDIN_CONNECT_WEBHOOK_SECRET)
    )
    assert response.status_code == 200
    stored = StripeEvent.objects.get(event_id="evt_acct")

    stripe_event_handle(pk=stored.pk)
    stripe_event_handle(pk=stored.pk)
    drain()
    stripe_event_handle(pk=stored.pk)
    drain()

    (transfer,) = standin_objects(standin, "transfer")
    assert transfer["amount"] == job.courier_payout_minor
    assert Transfer.objects.get(job_id=job_id).state == "paid"
    assert f"courier_payable:{courier.pk}" not in balances()
    assert differences() == []


def test_a_refund_event_posts_one_refund_entry_in_any_order(standin, zone) -> None:
    shop = ShopUserFactory()
    courier = CourierFactory()
    job_id = post_job(client_for(shop)).json()["id"]
    walk(job_id, "delivered", courier=courier)
    drain()
    charge_id = standin_objects(standin, "charge")[0]["id"]
    refund = {"id": "re_1", "amount": 100, "currency": "eur", "status": "succeeded"}
    charge = {"id": charge_id, "amount_refunded": 100, "refunds": {"data": [refund]}}
    older = StripeEvent.objects.create(
        event_id="evt_r1",
        type="charge.refunded",
        payload=json.loads(event("evt_r1", "charge.refunded", charge)),
    )
    replay = StripeEvent.objects.create(
        event_id="evt_r2",
        type="charge.refunded",
        payload=json.loads(event("evt_r2", "charge.refunded", charge)),
    )

    stripe_event_handle(pk=replay.pk)
    stripe_event_handle(pk=older.pk)
    stripe_event_handle(pk=replay.pk)

    refunds = JournalEntry.objects.filter(kind="refund")
    assert [entry.idempotency_key for entry in refunds] == ["refund:re_1"]
    assert balances()["refunds"] == 100


def test_a_burst_of_events_is_not_rate_limited(api_client, stripe_standin, settings) -> None:
    payloads = [event(f"evt_burst_{n}", "payout.paid", {"id": f"po_{n}"}) for n in range(130)]

    statuses = {
        deliver(api_client, URL, payload, signed(payload, STANDIN_WEBHOOK_SECRET)).status_code
        for payload in payloads
    }

    assert statuses == {200}
    assert StripeEvent.objects.count() == 130
