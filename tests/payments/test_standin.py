"""The Stripe stand-in itself: wire format, webhooks, onboarding links, helpers, faults."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

from payments.gateway import (
    GatewayError,
    GatewayUnavailable,
    SignatureError,
    StripeGateway,
)
from payments.standin import StandinServer
from payments.standin.forms import decode_form
from tests.concurrency import race
from tests.payments.standin_receiver import webhook_receiver

KEY = "sk_test_standin"


def call(
    standin: StandinServer,
    method: str,
    path: str,
    params: dict[str, str] | None = None,
    *,
    key: str | None = KEY,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """One raw request, form-encoded as stripe-python sends it."""
    data = urllib.parse.urlencode(params or {}).encode()
    url = standin.base_url + path
    if method == "GET" and params:
        url, data = f"{url}?{data.decode()}", b""
    request = urllib.request.Request(url, data=data or None, method=method)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def helper(standin: StandinServer, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        standin.base_url + path,
        data=json.dumps(body or {}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def gateway(standin: StandinServer) -> StripeGateway:
    return StripeGateway(api_key=KEY, api_base=standin.base_url)


def captured_charge(gateway: StripeGateway, amount: int, name: str) -> tuple[str, str]:
    customer = gateway.customer_create(email="s@example.com", metadata={}, idempotency_key=name)
    card = gateway.payment_method_attach(customer_id=customer, payment_method_id="pm_card_visa")
    intent = gateway.payment_intent_authorise(
        amount_minor=amount,
        currency="eur",
        customer_id=customer,
        payment_method_id=card.payment_method_id,
        transfer_group=f"job_{name}",
        metadata={"job_id": name},
        idempotency_key=f"{name}:authorise",
    )
    captured = gateway.payment_intent_capture(
        intent_id=intent.id, amount_to_capture=amount, idempotency_key=f"{name}:capture"
    )
    assert captured.charge_id is not None
    return intent.id, captured.charge_id


# -- wire format -------------------------------------------------------------------------


def test_form_fields_nest_like_stripe_python_sends_them() -> None:
    pairs = [
        ("amount", "100"),
        ("metadata[job_id]", "7"),
        ("metadata[kind]", ""),
        ("expand[0]", "latest_charge"),
        ("expand[1]", "customer"),
        ("items[]", "a"),
        ("items[]", "b"),
        ("capabilities[transfers][requested]", "true"),
    ]
    assert decode_form(pairs) == {
        "amount": "100",
        "metadata": {"job_id": "7", "kind": ""},
        "expand": ["latest_charge", "customer"],
        "items": ["a", "b"],
        "capabilities": {"transfers": {"requested": "true"}},
    }


def test_api_keys_are_required_and_only_test_keys_work(standin: StandinServer) -> None:
    status, body, _ = call(standin, "POST", "/v1/customers", {"email": "a@b.c"}, key=None)
    assert status == 401
    assert body["error"]["type"] == "invalid_request_error"
    assert call(standin, "POST", "/v1/customers", {}, key="sk_live_abc")[0] == 401
    assert call(standin, "POST", "/v1/customers", {}, key="sk_test_other")[0] == 401
    assert standin.store.objects["customer"] == {}


def test_unknown_parameters_and_routes_are_refused(standin: StandinServer) -> None:
    status, body, _ = call(standin, "POST", "/v1/customers", {"emial": "a@b.c"})
    assert status == 400
    assert (body["error"]["code"], body["error"]["param"]) == ("parameter_unknown", "emial")
    status, body, _ = call(standin, "GET", "/v1/nothing_here")
    assert status == 404
    assert body["error"]["message"] == "Unrecognized request URL (GET: /v1/nothing_here)."
    assert standin.store.objects["customer"] == {}


def test_idempotent_replay_is_marked_and_a_mismatch_is_a_400(standin: StandinServer) -> None:
    headers = {"Idempotency-Key": "k-1"}
    first = call(standin, "POST", "/v1/customers", {"email": "a@b.c"}, headers=headers)
    again = call(standin, "POST", "/v1/customers", {"email": "a@b.c"}, headers=headers)
    assert (first[0], again[0]) == (200, 200)
    assert again[1] == first[1]
    assert again[2]["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first[2]
    status, body, _ = call(standin, "POST", "/v1/customers", {"email": "x@b.c"}, headers=headers)
    assert status == 400
    assert body["error"]["type"] == "idempotency_error"
    # The same key on another route is a mismatch too.
    assert call(standin, "POST", "/v1/accounts", {"type": "express"}, headers=headers)[0] == 400
    assert len(standin.store.objects["customer"]) == 1
    assert standin.store.objects["account"] == {}


def test_a_validation_error_is_not_kept_under_the_key(standin: StandinServer) -> None:
    headers = {"Idempotency-Key": "k-2"}
    status, body, _ = call(
        standin, "POST", "/v1/payment_intents", {"currency": "eur"}, headers=headers
    )
    assert (status, body["error"]["code"]) == (400, "parameter_missing")
    status, body, _ = call(
        standin,
        "POST",
        "/v1/payment_intents",
        {"amount": "500", "currency": "eur"},
        headers=headers,
    )
    assert (status, body["status"], body["amount"]) == (200, "requires_payment_method", 500)


def test_lists_page_newest_first_and_filter_by_created(
    standin: StandinServer, gateway: StripeGateway
) -> None:
    for n in range(3):
        captured_charge(gateway, 500 + n, f"page{n}")
    status, page, _ = call(standin, "GET", "/v1/charges", {"limit": "2"})
    assert status == 200
    assert [c["amount"] for c in page["data"]] == [502, 501]
    assert page["has_more"] is True
    _, rest, _ = call(
        standin, "GET", "/v1/charges", {"limit": "2", "starting_after": page["data"][-1]["id"]}
    )
    assert [c["amount"] for c in rest["data"]] == [500]
    assert rest["has_more"] is False
    future = str(int(time.time()) + 3600)
    _, none, _ = call(standin, "GET", "/v1/charges", {"created[gte]": future})
    assert none["data"] == []


def test_expand_replaces_ids_with_objects(standin: StandinServer, gateway: StripeGateway) -> None:
    intent_id, charge_id = captured_charge(gateway, 1000, "expand")
    _, intent, _ = call(
        standin,
        "GET",
        f"/v1/payment_intents/{intent_id}",
        {"expand[0]": "latest_charge.balance_transaction"},
    )
    assert intent["latest_charge"]["id"] == charge_id
    txn = intent["latest_charge"]["balance_transaction"]
    assert (txn["object"], txn["amount"], txn["fee"], txn["net"]) == (
        "balance_transaction",
        1000,
        40,
        960,
    )
    _, plain, _ = call(standin, "GET", f"/v1/payment_intents/{intent_id}")
    assert plain["latest_charge"] == charge_id


# -- money rules -------------------------------------------------------------------------


def test_concurrent_captures_with_one_key_capture_once(
    standin: StandinServer, gateway: StripeGateway
) -> None:
    customer = gateway.customer_create(email="a@b.c", metadata={}, idempotency_key="race")
    card = gateway.payment_method_attach(customer_id=customer, payment_method_id="pm_card_visa")
    intent = gateway.payment_intent_authorise(
        amount_minor=1000,
        currency="eur",
        customer_id=customer,
        payment_method_id=card.payment_method_id,
        transfer_group="job_race",
        metadata={},
        idempotency_key="race:authorise",
    )

    def capture(key: str) -> Any:
        return gateway.payment_intent_capture(
            intent_id=intent.id, amount_to_capture=1000, idempotency_key=key
        )

    same_key = race(*[lambda: capture("race:capture")] * 8)
    assert {result.status for result in same_key} == {"succeeded"}
    assert len(set(same_key)) == 1
    other_keys = race(*[lambda n=n: capture(f"race:other{n}") for n in range(4)])
    assert all(isinstance(result, GatewayError) for result in other_keys)
    charges = list(standin.store.objects["charge"].values())
    assert [(c["amount_captured"]) for c in charges] == [1000]
    txns = [
        t for t in standin.store.objects["balance_transaction"].values() if t["type"] == "charge"
    ]
    assert len(txns) == 1


def test_transfers_from_a_charge_cannot_exceed_what_is_left_of_it(
    standin: StandinServer, gateway: StripeGateway
) -> None:
    _, charge_id = captured_charge(gateway, 1000, "left")
    account = gateway.account_create(email="c@b.c", country="DE", metadata={}, idempotency_key="a")
    helper(standin, f"/_standin/accounts/{account.id}/onboard")
    arguments = {
        "currency": "eur",
        "destination": account.id,
        "source_transaction": charge_id,
        "transfer_group": "job_left",
        "metadata": {},
    }
    gateway.transfer_create(amount_minor=600, idempotency_key="t1", **arguments)
    with pytest.raises(GatewayError) as caught:
        gateway.transfer_create(amount_minor=401, idempotency_key="t2", **arguments)
    assert (caught.value.stripe_code, caught.value.param) == ("amount_too_large", "amount")
    gateway.transfer_create(amount_minor=400, idempotency_key="t3", **arguments)
    assert sorted(t["amount"] for t in standin.store.objects["transfer"].values()) == [400, 600]
    balance = call(standin, "GET", "/v1/balance", headers={"Stripe-Account": account.id})[1]
    assert balance["available"] == [{"amount": 1000, "currency": "eur"}]


def test_an_uncaptured_hold_expires_after_seven_days(
    standin: StandinServer, gateway: StripeGateway
) -> None:
    customer = gateway.customer_create(email="a@b.c", metadata={}, idempotency_key="exp")
    card = gateway.payment_method_attach(customer_id=customer, payment_method_id="pm_card_visa")
    intent = gateway.payment_intent_authorise(
        amount_minor=1000,
        currency="eur",
        customer_id=customer,
        payment_method_id=card.payment_method_id,
        transfer_group="job_exp",
        metadata={},
        idempotency_key="exp:authorise",
    )
    helper(standin, "/_standin/clock", {"advance_seconds": 6 * 24 * 3600})
    assert gateway.payment_intent_retrieve(intent_id=intent.id).status == "requires_capture"
    helper(standin, "/_standin/clock", {"advance_seconds": 24 * 3600 + 1})
    expired = gateway.payment_intent_retrieve(intent_id=intent.id)
    assert (expired.status, expired.amount_capturable) == ("canceled", 0)
    stored = standin.store.objects["payment_intent"][intent.id]
    assert stored["cancellation_reason"] == "automatic"
    with pytest.raises(GatewayError):
        gateway.payment_intent_capture(
            intent_id=intent.id, amount_to_capture=1000, idempotency_key="x"
        )


def test_a_lost_answer_is_replayed_on_retry(standin: StandinServer, gateway: StripeGateway) -> None:
    customer = gateway.customer_create(email="a@b.c", metadata={}, idempotency_key="lost")
    card = gateway.payment_method_attach(customer_id=customer, payment_method_id="pm_card_visa")
    helper(
        standin,
        "/_standin/faults",
        {"path": "/v1/payment_intents", "status": 500, "count": 1, "after_execute": True},
    )
    arguments = {
        "amount_minor": 1000,
        "currency": "eur",
        "customer_id": customer,
        "payment_method_id": card.payment_method_id,
        "transfer_group": "job_lost",
        "metadata": {},
        "idempotency_key": "lost:authorise",
    }
    with pytest.raises(GatewayUnavailable):
        gateway.payment_intent_authorise(**arguments)
    # Stripe did the work; the retry with the same key gets that result, not a second hold.
    intent = gateway.payment_intent_authorise(**arguments)
    assert intent.status == "requires_capture"
    assert list(standin.store.objects["payment_intent"]) == [intent.id]


def test_a_fault_before_execution_changes_nothing(
    standin: StandinServer, gateway: StripeGateway
) -> None:
    helper(standin, "/_standin/faults", {"path": "/v1/customers", "status": 429, "count": 1})
    with pytest.raises(GatewayUnavailable):
        gateway.customer_create(email="a@b.c", metadata={}, idempotency_key="rl")
    assert standin.store.objects["customer"] == {}
    customer = gateway.customer_create(email="a@b.c", metadata={}, idempotency_key="rl")
    assert list(standin.store.objects["customer"]) == [customer]


# -- events and webhooks -----------------------------------------------------------------


def test_events_are_signed_and_delivered_to_platform_and_connect_endpoints(
    standin: StandinServer, gateway: StripeGateway
) -> None:
    with webhook_receiver() as receiver:
        standin.add_endpoint(f"{receiver.url}/platform", "whsec_p", connect=False)
        standin.add_endpoint(f"{receiver.url}/connect", "whsec_c", connect=True)
        intent_id, charge_id = captured_charge(gateway, 1000, "hooks")
        account = gateway.account_create(
            email="c@b.c", country="DE", metadata={}, idempotency_key="a"
        )
        helper(standin, f"/_standin/accounts/{account.id}/payouts_enabled", {"enabled": True})
        assert standin.wait_for_webhooks(10)

    platform = [
        gateway.event_from_webhook(payload=r.body, signature_header=r.signature, secret="whsec_p")
        for r in receiver.by_path("/platform")
    ]
    connect = [
        gateway.event_from_webhook(payload=r.body, signature_header=r.signature, secret="whsec_c")
        for r in receiver.by_path("/connect")
    ]
    types = [event["type"] for event in platform]
    for expected in (
        "payment_intent.amount_capturable_updated",
        "charge.captured",
        "payment_intent.succeeded",
    ):
        assert types.count(expected) == 1, types
    assert types.index("payment_intent.amount_capturable_updated") < types.index("charge.captured")
    assert all("account" not in event for event in platform)
    succeeded = next(e for e in platform if e["type"] == "payment_intent.succeeded")
    assert succeeded["data"]["object"]["id"] == intent_id
    assert succeeded["data"]["object"]["latest_charge"] == charge_id
    assert succeeded["request"]["idempotency_key"] == "hooks:capture"
    assert [(e["type"], e["account"]) for e in connect] == [("account.updated", account.id)]
    assert connect[0]["data"]["object"]["payouts_enabled"] is True
    assert connect[0]["data"]["previous_attributes"]["payouts_enabled"] is False
    first = receiver.by_path("/platform")[0]
    with pytest.raises(SignatureError):
        gateway.event_from_webhook(
            payload=first.body, signature_header=first.signature, secret="whsec_c"
        )


def test_a_failed_delivery_is_retried_until_it_succeeds(
    standin: StandinServer, gateway: StripeGateway
) -> None:
    with webhook_receiver() as receiver:
        receiver.failures = [500, 503]
        standin.add_endpoint(receiver.url, "whsec_p", connect=False)
        gateway.customer_create(email="a@b.c", metadata={}, idempotency_key="c")
        assert standin.wait_for_webhooks(15)
    bodies = [json.loads(r.body) for r in receiver.received]
    assert [b["type"] for b in bodies] == ["customer.created"] * 3
    assert len({b["id"] for b in bodies}) == 1
    records = [r for r in standin.deliverer.records if r["url"] == receiver.url]
    assert [(r["attempts"], r["status"], r["last_response"]) for r in records] == [
        (3, "delivered", 200)
    ]


def test_an_event_can_be_resent(standin: StandinServer, gateway: StripeGateway) -> None:
    with webhook_receiver() as receiver:
        standin.add_endpoint(receiver.url, "whsec_p", connect=False)
        captured_charge(gateway, 1000, "resend")
        assert standin.wait_for_webhooks(10)
        succeeded = next(
            json.loads(r.body) for r in receiver.received if b"payment_intent.succeeded" in r.body
        )
        helper(standin, f"/_standin/events/{succeeded['id']}/resend")
        assert standin.wait_for_webhooks(10)
    again = [
        json.loads(r.body) for r in receiver.received if json.loads(r.body)["id"] == succeeded["id"]
    ]
    assert len(again) == 2
    assert again[0] == again[1]


# -- onboarding, disputes, payouts -------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _open(url: str) -> tuple[int, str]:
    try:
        urllib.request.build_opener(_NoRedirect).open(url, timeout=10)
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Location"]
    raise AssertionError("expected a redirect")


def test_an_account_link_onboards_once_then_points_to_refresh(
    standin: StandinServer, gateway: StripeGateway
) -> None:
    account = gateway.account_create(email="c@b.c", country="DE", metadata={}, idempotency_key="a")
    url = gateway.account_link_create(
        account_id=account.id, refresh_url="http://app/refresh", return_url="http://app/return"
    )
    assert url.startswith(f"{standin.base_url}/_standin/onboard/")
    assert _open(url) == (302, "http://app/return")
    onboarded = gateway.account_retrieve(account_id=account.id)
    assert (onboarded.payouts_enabled, onboarded.charges_enabled, onboarded.details_submitted) == (
        True,
        True,
        True,
    )
    assert onboarded.requirements_due == []
    assert _open(url) == (302, "http://app/refresh")
    expired = gateway.account_link_create(
        account_id=account.id, refresh_url="http://app/refresh", return_url="http://app/return"
    )
    helper(standin, "/_standin/clock", {"advance_seconds": 301})
    assert _open(expired) == (302, "http://app/refresh")


def test_payouts_can_be_switched_off_and_on(standin: StandinServer, gateway: StripeGateway) -> None:
    account = gateway.account_create(email="c@b.c", country="DE", metadata={}, idempotency_key="a")
    helper(standin, f"/_standin/accounts/{account.id}/onboard")
    helper(standin, f"/_standin/accounts/{account.id}/payouts_enabled", {"enabled": False})
    off = gateway.account_retrieve(account_id=account.id)
    assert (off.payouts_enabled, off.requirements_due) == (False, ["external_account"])
    updates = [e for e in standin.store.objects["event"].values() if e["type"] == "account.updated"]
    assert [e["data"]["object"]["payouts_enabled"] for e in updates] == [True, False]
    assert {e["account"] for e in updates} == {account.id}


def test_a_dispute_withdraws_the_amount_and_fee_and_a_win_returns_the_amount(
    standin: StandinServer, gateway: StripeGateway
) -> None:
    _, charge_id = captured_charge(gateway, 1000, "dispute")
    dispute = helper(standin, f"/_standin/charges/{charge_id}/dispute", {"reason": "fraudulent"})
    assert (dispute["status"], dispute["amount"], dispute["charge"]) == (
        "needs_response",
        1000,
        charge_id,
    )
    closed = helper(standin, f"/_standin/disputes/{dispute['id']}/close", {"outcome": "won"})
    assert closed["status"] == "won"
    adjustments = [
        (t.amount, t.fee, t.net) for t in gateway.balance_transactions() if t.type == "adjustment"
    ]
    assert sorted(adjustments) == [(-1000, 2000, -3000), (1000, 0, 1000)]
    types = [
        e["type"] for e in sorted(standin.store.objects["event"].values(), key=lambda e: e["_seq"])
    ]
    assert types[-4:] == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
    ]


def test_payouts_are_paid_or_fail_on_the_connected_account(
    standin: StandinServer, gateway: StripeGateway
) -> None:
    _, charge_id = captured_charge(gateway, 1000, "payout")
    account = gateway.account_create(email="c@b.c", country="DE", metadata={}, idempotency_key="a")
    helper(standin, f"/_standin/accounts/{account.id}/onboard")
    gateway.transfer_create(
        amount_minor=800,
        currency="eur",
        destination=account.id,
        source_transaction=charge_id,
        transfer_group="job_payout",
        metadata={},
        idempotency_key="t",
    )
    failed = helper(
        standin,
        f"/_standin/accounts/{account.id}/payouts",
        {"amount": 300, "failure_code": "account_closed"},
    )
    paid = helper(standin, f"/_standin/accounts/{account.id}/payouts", {})
    assert (failed["status"], failed["amount"], paid["status"], paid["amount"]) == (
        "failed",
        300,
        "paid",
        800,
    )
    events = [
        (e["type"], e["account"])
        for e in standin.store.objects["event"].values()
        if e["type"].startswith("payout.")
    ]
    assert events == [("payout.failed", account.id), ("payout.paid", account.id)]
    _, payouts, _ = call(standin, "GET", "/v1/payouts", headers={"Stripe-Account": account.id})
    assert [p["id"] for p in payouts["data"]] == [paid["id"], failed["id"]]
    assert call(standin, "GET", "/v1/payouts")[1]["data"] == []


def test_reset_forgets_everything(standin: StandinServer, gateway: StripeGateway) -> None:
    captured_charge(gateway, 1000, "reset")
    helper(standin, "/_standin/reset")
    assert all(objects == {} for objects in standin.store.objects.values())
    assert standin.store.idempotency == {}
    # The keys are free again.
    customer = gateway.customer_create(email="new@b.c", metadata={}, idempotency_key="reset")
    assert list(standin.store.objects["customer"]) == [customer]


def test_a_refused_payment_intent_leaves_nothing_behind(
    standin: StandinServer, gateway: StripeGateway
) -> None:
    owner = gateway.customer_create(email="a@b.c", metadata={}, idempotency_key="owner")
    other = gateway.customer_create(email="o@b.c", metadata={}, idempotency_key="other")
    card = gateway.payment_method_attach(customer_id=owner, payment_method_id="pm_card_visa")
    with pytest.raises(GatewayError) as caught:
        gateway.payment_intent_authorise(
            amount_minor=1000,
            currency="eur",
            customer_id=other,
            payment_method_id=card.payment_method_id,
            transfer_group="job_x",
            metadata={},
            idempotency_key="x:authorise",
        )
    assert (caught.value.http_status, caught.value.param) == (400, "payment_method")
    with pytest.raises(GatewayError) as caught:
        gateway.payment_intent_authorise(
            amount_minor=49,
            currency="eur",
            customer_id=owner,
            payment_method_id=card.payment_method_id,
            transfer_group="job_x",
            metadata={},
            idempotency_key="y:authorise",
        )
    assert caught.value.stripe_code == "amount_too_small"
    assert standin.store.objects["payment_intent"] == {}
    assert standin.store.objects["charge"] == {}


def test_an_idempotency_key_is_forgotten_after_24_hours(standin: StandinServer) -> None:
    headers = {"Idempotency-Key": "k-old"}
    first = call(standin, "POST", "/v1/customers", {"email": "a@b.c"}, headers=headers)
    helper(standin, "/_standin/clock", {"advance_seconds": 24 * 3600 - 10})
    assert (
        call(standin, "POST", "/v1/customers", {"email": "a@b.c"}, headers=headers)[1] == first[1]
    )
    helper(standin, "/_standin/clock", {"advance_seconds": 11})
    later = call(standin, "POST", "/v1/customers", {"email": "x@b.c"}, headers=headers)
    assert later[0] == 200
    assert later[1]["id"] != first[1]["id"]
    assert len(standin.store.objects["customer"]) == 2
