"""Contract tests: every PaymentGateway method through StripeGateway.

They run against the stand-in by default. With ``STRIPE_CONTRACT=real`` and a test-mode
``STRIPE_SECRET_KEY`` (``./dev test-stripe``), the same tests run against Stripe's test
mode; ``STRIPE_CONTRACT_ACCOUNT`` then names an onboarded Express account for transfers.
"""

from __future__ import annotations

import json
import os
import struct
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from payments.gateway import (
    AuthenticationRequired,
    GatewayError,
    GatewayUnavailable,
    IdempotencyMismatch,
    PaymentDeclined,
    SignatureError,
    StripeGateway,
    stripe_gateway,
)
from payments.standin import StandinServer
from payments.standin.accounts import account_onboard
from payments.standin.webhooks import sign
from tests.e2e_server import free_port

# Read at import, before the session fixture points the settings at the stand-in.
IS_REAL = os.environ.get("STRIPE_CONTRACT") == "real"
REAL_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
REAL_ACCOUNT = os.environ.get("STRIPE_CONTRACT_ACCOUNT", "")
# Normally empty (api.stripe.com); set to run the real-mode path against a separate stand-in.
REAL_API_BASE = os.environ.get("STRIPE_CONTRACT_API_BASE", "")


def standin_fee(amount: int) -> int:
    """The stand-in's fee: 1.5 % (rounded half up) + 25 minor units."""
    return (amount * 150 + 5000) // 10000 + 25


@dataclass
class Contract:
    gateway: StripeGateway
    standin: StandinServer | None
    run: str

    def key(self, name: str) -> str:
        """A fresh idempotency key (real Stripe keeps keys for 24 hours)."""
        return f"contract:{self.run}:{name}"

    def customer_with_card(self, card: str = "pm_card_visa") -> tuple[str, str]:
        customer = self.gateway.customer_create(
            email="shop@example.com", metadata={"shop_id": "1"}, idempotency_key=self.key("cus")
        )
        method = self.gateway.payment_method_attach(customer_id=customer, payment_method_id=card)
        return customer, method.payment_method_id

    def authorise(self, amount: int, name: str, card: str = "pm_card_visa") -> str:
        customer, method = self.customer_with_card(card)
        return self.gateway.payment_intent_authorise(
            amount_minor=amount,
            currency="eur",
            customer_id=customer,
            payment_method_id=method,
            transfer_group=f"job_{name}",
            metadata={"job_id": name},
            idempotency_key=self.key(f"{name}:authorise"),
        ).id

    def onboarded_account(self) -> str:
        if self.standin is None:
            if not REAL_ACCOUNT:
                pytest.fail(
                    "STRIPE_CONTRACT_ACCOUNT=acct_… (an onboarded Express account) is required"
                )
            return REAL_ACCOUNT
        account = self.gateway.account_create(
            email="courier@example.com", country="DE", metadata={}, idempotency_key=self.key("acct")
        )
        with self.standin.store.lock:
            account_onboard(self.standin.store, self.standin.store.get("account", account.id))
        return account.id


@pytest.fixture
def contract(request: pytest.FixtureRequest) -> Iterator[Contract]:
    run = uuid.uuid4().hex[:12]
    if IS_REAL:
        if not REAL_KEY.startswith("sk_test_"):
            pytest.fail("STRIPE_CONTRACT=real needs STRIPE_SECRET_KEY=sk_test_… (test mode only)")
        gateway = StripeGateway(api_key=REAL_KEY, api_base=REAL_API_BASE)
        yield Contract(gateway=gateway, standin=None, run=run)
        return
    standin = request.getfixturevalue("standin")
    gateway = StripeGateway(api_key="sk_test_standin", api_base=standin.base_url)
    yield Contract(gateway=gateway, standin=standin, run=run)


# -- customers and cards -----------------------------------------------------------------


def test_customer_create_replays_the_same_key_and_refuses_other_parameters(
    contract: Contract,
) -> None:
    key = contract.key("customer")
    first = contract.gateway.customer_create(
        email="a@example.com", metadata={"shop_id": "7"}, idempotency_key=key
    )
    again = contract.gateway.customer_create(
        email="a@example.com", metadata={"shop_id": "7"}, idempotency_key=key
    )
    assert first.startswith("cus_")
    assert again == first
    with pytest.raises(IdempotencyMismatch) as caught:
        contract.gateway.customer_create(
            email="b@example.com", metadata={"shop_id": "7"}, idempotency_key=key
        )
    assert caught.value.code == "idempotency_error"
    customer = contract.gateway.client.v1.customers.retrieve(first)
    assert customer.email == "a@example.com"
    assert customer.metadata.to_dict() == {"shop_id": "7"}


def test_setup_intent_belongs_to_the_customer(contract: Contract) -> None:
    customer = contract.gateway.customer_create(
        email="a@example.com", metadata={}, idempotency_key=contract.key("cus")
    )
    result = contract.gateway.setup_intent_create(
        customer_id=customer, idempotency_key=contract.key("seti")
    )
    assert result.id.startswith("seti_")
    assert result.client_secret.startswith(f"{result.id}_secret_")
    assert result.customer_id == customer


def test_attached_card_becomes_the_default_and_detaches(contract: Contract) -> None:
    customer = contract.gateway.customer_create(
        email="a@example.com", metadata={}, idempotency_key=contract.key("cus")
    )
    card = contract.gateway.payment_method_attach(
        customer_id=customer, payment_method_id="pm_card_mastercard"
    )
    assert card.payment_method_id.startswith("pm_")
    assert (card.brand, card.last4, card.exp_month) == ("mastercard", "4444", 12)
    assert card.exp_year > datetime.now(UTC).year
    stored = contract.gateway.client.v1.customers.retrieve(customer)
    assert stored.invoice_settings.default_payment_method == card.payment_method_id
    contract.gateway.payment_method_detach(payment_method_id=card.payment_method_id)
    method = contract.gateway.client.v1.payment_methods.retrieve(card.payment_method_id)
    assert method.customer is None


def test_a_declined_card_cannot_be_attached(contract: Contract) -> None:
    customer = contract.gateway.customer_create(
        email="a@example.com", metadata={}, idempotency_key=contract.key("cus")
    )
    with pytest.raises(PaymentDeclined) as caught:
        contract.gateway.payment_method_attach(
            customer_id=customer, payment_method_id="pm_card_chargeDeclined"
        )
    assert caught.value.code == "payment_declined"
    assert caught.value.decline_code == "generic_decline"


# -- authorise, capture, cancel ----------------------------------------------------------


def test_authorise_holds_the_amount_for_seven_days(contract: Contract) -> None:
    customer, method = contract.customer_with_card()
    before = datetime.now(UTC)
    intent = contract.gateway.payment_intent_authorise(
        amount_minor=1250,
        currency="eur",
        customer_id=customer,
        payment_method_id=method,
        transfer_group="job_41",
        metadata={"job_id": "41"},
        idempotency_key=contract.key("authorise"),
    )
    assert intent.id.startswith("pi_")
    assert (intent.status, intent.amount, intent.amount_capturable, intent.amount_received) == (
        "requires_capture",
        1250,
        1250,
        0,
    )
    assert intent.currency == "eur"
    assert (intent.charge_id or "").startswith("ch_")
    assert intent.fee_minor is None
    assert intent.balance_transaction_id is None
    assert intent.capture_before is not None
    assert before + timedelta(days=6) < intent.capture_before < before + timedelta(days=8)
    stored = contract.gateway.client.v1.payment_intents.retrieve(intent.id)
    assert stored.capture_method == "manual"
    assert stored.transfer_group == "job_41"
    assert stored.metadata.to_dict() == {"job_id": "41"}


def test_authorise_replays_and_refuses_a_changed_amount(contract: Contract) -> None:
    customer, method = contract.customer_with_card()
    arguments = {
        "currency": "eur",
        "customer_id": customer,
        "payment_method_id": method,
        "transfer_group": "job_42",
        "metadata": {"job_id": "42"},
        "idempotency_key": contract.key("authorise"),
    }
    first = contract.gateway.payment_intent_authorise(amount_minor=900, **arguments)
    again = contract.gateway.payment_intent_authorise(amount_minor=900, **arguments)
    assert again == first
    with pytest.raises(IdempotencyMismatch):
        contract.gateway.payment_intent_authorise(amount_minor=901, **arguments)
    intents = contract.gateway.client.v1.payment_intents.list({"customer": customer})
    assert [intent.id for intent in intents.data] == [first.id]


def test_a_declined_authorisation_raises_and_leaves_no_hold(contract: Contract) -> None:
    customer, method = contract.customer_with_card("pm_card_chargeCustomerFail")
    with pytest.raises(PaymentDeclined) as caught:
        contract.gateway.payment_intent_authorise(
            amount_minor=1000,
            currency="eur",
            customer_id=customer,
            payment_method_id=method,
            transfer_group="job_43",
            metadata={"job_id": "43"},
            idempotency_key=contract.key("authorise"),
        )
    assert caught.value.stripe_code == "card_declined"
    assert caught.value.decline_code == "generic_decline"
    assert caught.value.intent_id is not None
    intent = contract.gateway.payment_intent_retrieve(intent_id=caught.value.intent_id)
    assert (intent.status, intent.amount_capturable) == ("requires_payment_method", 0)


def test_a_card_that_needs_authentication_raises(contract: Contract) -> None:
    customer, method = contract.customer_with_card("pm_card_authenticationRequired")
    with pytest.raises(AuthenticationRequired) as caught:
        contract.gateway.payment_intent_authorise(
            amount_minor=1000,
            currency="eur",
            customer_id=customer,
            payment_method_id=method,
            transfer_group="job_44",
            metadata={"job_id": "44"},
            idempotency_key=contract.key("authorise"),
        )
    assert caught.value.code == "payment_authentication_required"
    assert caught.value.stripe_code == "authentication_required"
    assert caught.value.intent_id is not None
    intent = contract.gateway.payment_intent_retrieve(intent_id=caught.value.intent_id)
    assert intent.status == "requires_payment_method"


def test_partial_capture_takes_the_fee_and_releases_the_rest(contract: Contract) -> None:
    intent_id = contract.authorise(1000, "45")
    key = contract.key("45:capture")
    captured = contract.gateway.payment_intent_capture(
        intent_id=intent_id, amount_to_capture=600, idempotency_key=key
    )
    assert (captured.status, captured.amount_received, captured.amount_capturable) == (
        "succeeded",
        600,
        0,
    )
    assert captured.balance_transaction_id is not None
    txn = contract.gateway.client.v1.balance_transactions.retrieve(captured.balance_transaction_id)
    assert (txn.amount, txn.fee, txn.net, txn.type) == (
        600,
        captured.fee_minor,
        600 - captured.fee_minor,
        "charge",
    )
    if contract.standin is not None:
        assert captured.fee_minor == standin_fee(600) == 34
    # A retry with the same key is the same capture, not a second one.
    again = contract.gateway.payment_intent_capture(
        intent_id=intent_id, amount_to_capture=600, idempotency_key=key
    )
    assert again == captured
    with pytest.raises(GatewayError) as caught:
        contract.gateway.payment_intent_capture(
            intent_id=intent_id, amount_to_capture=100, idempotency_key=contract.key("45:again")
        )
    assert caught.value.stripe_code == "payment_intent_unexpected_state"


def test_capturing_more_than_the_hold_is_refused(contract: Contract) -> None:
    intent_id = contract.authorise(1000, "46")
    with pytest.raises(GatewayError) as caught:
        contract.gateway.payment_intent_capture(
            intent_id=intent_id, amount_to_capture=1001, idempotency_key=contract.key("46:cap")
        )
    assert caught.value.http_status == 400
    intent = contract.gateway.payment_intent_retrieve(intent_id=intent_id)
    assert (intent.status, intent.amount_capturable) == ("requires_capture", 1000)


def test_cancel_releases_the_hold(contract: Contract) -> None:
    intent_id = contract.authorise(1000, "47")
    key = contract.key("47:cancel")
    canceled = contract.gateway.payment_intent_cancel(intent_id=intent_id, idempotency_key=key)
    assert (canceled.status, canceled.amount_capturable, canceled.amount_received) == (
        "canceled",
        0,
        0,
    )
    assert contract.gateway.payment_intent_cancel(intent_id=intent_id, idempotency_key=key) == (
        canceled
    )
    with pytest.raises(GatewayError) as caught:
        contract.gateway.payment_intent_capture(
            intent_id=intent_id, amount_to_capture=1000, idempotency_key=contract.key("47:cap")
        )
    assert caught.value.stripe_code == "payment_intent_unexpected_state"


def test_charge_captures_at_once(contract: Contract) -> None:
    customer, method = contract.customer_with_card()
    tip = contract.gateway.payment_intent_charge(
        amount_minor=300,
        currency="eur",
        customer_id=customer,
        payment_method_id=method,
        transfer_group="job_48",
        metadata={"job_id": "48", "kind": "tip"},
        idempotency_key=contract.key("tip"),
    )
    assert (tip.status, tip.amount, tip.amount_received, tip.amount_capturable) == (
        "succeeded",
        300,
        300,
        0,
    )
    assert (tip.balance_transaction_id or "").startswith("txn_")
    txn = contract.gateway.client.v1.balance_transactions.retrieve(tip.balance_transaction_id)
    assert (txn.amount, txn.fee, txn.net) == (300, tip.fee_minor, 300 - (tip.fee_minor or 0))
    if contract.standin is not None:
        assert tip.fee_minor == standin_fee(300) == 30


def test_retrieve_of_an_unknown_intent_is_a_gateway_error(contract: Contract) -> None:
    with pytest.raises(GatewayError) as caught:
        contract.gateway.payment_intent_retrieve(intent_id="pi_doesnotexist")
    assert caught.value.http_status == 404
    assert caught.value.stripe_code == "resource_missing"


# -- refunds -----------------------------------------------------------------------------


def test_refunds_stop_at_the_captured_amount(contract: Contract) -> None:
    intent_id = contract.authorise(1000, "49")
    captured = contract.gateway.payment_intent_capture(
        intent_id=intent_id, amount_to_capture=800, idempotency_key=contract.key("49:cap")
    )
    first = contract.gateway.refund_create(
        payment_intent_id=intent_id,
        amount_minor=300,
        metadata={"dispute_id": "5"},
        idempotency_key=contract.key("49:refund1"),
    )
    assert first.id.startswith("re_")
    assert (first.status, first.amount, first.currency, first.charge_id) == (
        "succeeded",
        300,
        "eur",
        captured.charge_id,
    )
    assert first.balance_transaction_id is not None
    with pytest.raises(GatewayError) as caught:
        contract.gateway.refund_create(
            payment_intent_id=intent_id,
            amount_minor=501,
            metadata={},
            idempotency_key=contract.key("49:refund2"),
        )
    assert caught.value.http_status == 400
    rest = contract.gateway.refund_create(
        payment_intent_id=intent_id,
        amount_minor=500,
        metadata={},
        idempotency_key=contract.key("49:refund3"),
    )
    assert rest.amount == 500
    with pytest.raises(GatewayError):
        contract.gateway.refund_create(
            payment_intent_id=intent_id,
            amount_minor=1,
            metadata={},
            idempotency_key=contract.key("49:refund4"),
        )
    charge = contract.gateway.client.v1.charges.retrieve(captured.charge_id)
    assert (charge.amount_captured, charge.amount_refunded, charge.refunded) == (800, 800, True)


def test_an_uncaptured_intent_cannot_be_refunded(contract: Contract) -> None:
    intent_id = contract.authorise(1000, "50")
    with pytest.raises(GatewayError) as caught:
        contract.gateway.refund_create(
            payment_intent_id=intent_id,
            amount_minor=100,
            metadata={},
            idempotency_key=contract.key("50:refund"),
        )
    assert caught.value.http_status == 400


# -- connected accounts and transfers ----------------------------------------------------


def test_a_new_express_account_needs_onboarding(contract: Contract) -> None:
    account = contract.gateway.account_create(
        email="courier@example.com",
        country="DE",
        metadata={"courier_id": "3"},
        idempotency_key=contract.key("acct"),
    )
    assert account.id.startswith("acct_")
    assert (account.payouts_enabled, account.charges_enabled, account.details_submitted) == (
        False,
        False,
        False,
    )
    assert account.requirements_due
    assert contract.gateway.account_retrieve(account_id=account.id) == account
    url = contract.gateway.account_link_create(
        account_id=account.id,
        refresh_url="http://127.0.0.1:8000/refresh",
        return_url="http://127.0.0.1:8000/return",
    )
    assert url.startswith(("https://", "http://127.0.0.1"))


def test_transfers_need_an_onboarded_destination(contract: Contract) -> None:
    intent_id = contract.authorise(1000, "51")
    captured = contract.gateway.payment_intent_capture(
        intent_id=intent_id, amount_to_capture=1000, idempotency_key=contract.key("51:cap")
    )
    account = contract.gateway.account_create(
        email="courier@example.com", country="DE", metadata={}, idempotency_key=contract.key("a")
    )
    with pytest.raises(GatewayError) as caught:
        contract.gateway.transfer_create(
            amount_minor=500,
            currency="eur",
            destination=account.id,
            source_transaction=captured.charge_id,
            transfer_group="job_51",
            metadata={"payout_id": "1"},
            idempotency_key=contract.key("51:transfer"),
        )
    assert caught.value.http_status == 400


def test_transfer_from_the_charge_and_its_reversal(contract: Contract) -> None:
    started = datetime.now(UTC) - timedelta(seconds=5)
    intent_id = contract.authorise(1000, "52")
    captured = contract.gateway.payment_intent_capture(
        intent_id=intent_id, amount_to_capture=1000, idempotency_key=contract.key("52:cap")
    )
    destination = contract.onboarded_account()
    arguments = {
        "currency": "eur",
        "destination": destination,
        "source_transaction": captured.charge_id,
        "transfer_group": "job_52",
        "metadata": {"payout_id": "52"},
        "idempotency_key": contract.key("52:transfer"),
    }
    with pytest.raises(GatewayError) as caught:
        contract.gateway.transfer_create(
            amount_minor=1001, **{**arguments, "idempotency_key": contract.key("52:too-much")}
        )
    assert caught.value.http_status == 400
    transfer = contract.gateway.transfer_create(amount_minor=700, **arguments)
    assert transfer.id.startswith("tr_")
    assert (
        transfer.amount,
        transfer.currency,
        transfer.destination,
        transfer.source_transaction,
        transfer.transfer_group,
        transfer.amount_reversed,
        transfer.metadata,
    ) == (700, "eur", destination, captured.charge_id, "job_52", 0, {"payout_id": "52"})
    assert contract.gateway.transfer_create(amount_minor=700, **arguments) == transfer
    with pytest.raises(IdempotencyMismatch):
        contract.gateway.transfer_create(amount_minor=699, **arguments)

    reversal = contract.gateway.transfer_reversal_create(
        transfer_id=transfer.id,
        amount_minor=200,
        metadata={"adjustment_id": "9"},
        idempotency_key=contract.key("52:reversal"),
    )
    assert reversal.id.startswith("trr_")
    assert (reversal.transfer_id, reversal.amount, reversal.currency) == (transfer.id, 200, "eur")
    with pytest.raises(GatewayError):
        contract.gateway.transfer_reversal_create(
            transfer_id=transfer.id,
            amount_minor=501,
            metadata={},
            idempotency_key=contract.key("52:reversal2"),
        )
    listed = [t for t in contract.gateway.transfers(created_gte=started) if t.id == transfer.id]
    assert [(t.amount, t.amount_reversed) for t in listed] == [(700, 200)]


# -- lists -------------------------------------------------------------------------------


def test_lists_page_through_everything_since_a_time(
    contract: Contract, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = datetime.now(UTC) - timedelta(seconds=2)
    monkeypatch.setattr(stripe_gateway.lists, "LIST_PAGE_SIZE", 2)
    charges = []
    for n in range(3):
        intent_id = contract.authorise(500 + n, f"53-{n}")
        charges.append(
            contract.gateway.payment_intent_capture(
                intent_id=intent_id,
                amount_to_capture=500 + n,
                idempotency_key=contract.key(f"53-{n}:cap"),
            )
        )
    ours = {c.charge_id for c in charges}
    listed = [c for c in contract.gateway.charges(created_gte=started) if c["id"] in ours]
    assert sorted((c["amount"], c["amount_captured"], c["amount_refunded"]) for c in listed) == [
        (500, 500, 0),
        (501, 501, 0),
        (502, 502, 0),
    ]
    assert {c["transfer_group"] for c in listed} == {"job_53-0", "job_53-1", "job_53-2"}
    assert {c["payment_intent"] for c in listed} == {
        contract.gateway.payment_intent_retrieve(intent_id=c.id).id for c in charges
    }
    balance = [
        t for t in contract.gateway.balance_transactions(created_gte=started) if t.source in ours
    ]
    assert sorted((t.type, t.amount, t.fee, t.net) for t in balance) == sorted(
        ("charge", c.amount_received, c.fee_minor, c.amount_received - c.fee_minor) for c in charges
    )
    later = datetime.now(UTC) + timedelta(hours=1)
    assert [c for c in contract.gateway.charges(created_gte=later) if c["id"] in ours] == []


# -- webhooks (signature checks need no network) -----------------------------------------


def _event_payload() -> bytes:
    return json.dumps(
        {"id": "evt_contract", "object": "event", "type": "charge.refunded", "data": {"object": {}}}
    ).encode()


def test_a_well_signed_event_is_accepted(contract: Contract) -> None:
    payload = _event_payload()
    header = sign(payload, "whsec_contract", int(time.time()))
    event = contract.gateway.event_from_webhook(
        payload=payload, signature_header=header, secret="whsec_contract"
    )
    assert (event["id"], event["type"]) == ("evt_contract", "charge.refunded")


@pytest.mark.parametrize(
    ("secret", "age_seconds", "tamper"),
    [
        ("whsec_other", 0, False),  # signed with another secret
        ("whsec_contract", 301, False),  # older than the 300 s tolerance
        ("whsec_contract", 0, True),  # body changed after signing
    ],
)
def test_a_bad_or_stale_signature_is_refused(
    contract: Contract, secret: str, age_seconds: int, tamper: bool
) -> None:
    payload = _event_payload()
    header = sign(payload, secret, int(time.time()) - age_seconds)
    if tamper:
        payload = payload.replace(b"charge.refunded", b"charge.captured")
    with pytest.raises(SignatureError):
        contract.gateway.event_from_webhook(
            payload=payload, signature_header=header, secret="whsec_contract"
        )


def test_a_missing_signature_is_refused(contract: Contract) -> None:
    with pytest.raises(SignatureError):
        contract.gateway.event_from_webhook(
            payload=_event_payload(), signature_header="", secret="whsec_contract"
        )


# -- transport errors --------------------------------------------------------------------


def test_no_answer_is_gateway_unavailable() -> None:
    gateway = StripeGateway(
        api_key="sk_test_x",
        api_base=f"http://127.0.0.1:{free_port('127.0.0.1')}",
        timeout_seconds=2,
    )
    with pytest.raises(GatewayUnavailable):
        gateway.customer_create(email="a@example.com", metadata={}, idempotency_key="k")


def test_a_wrong_key_is_a_gateway_error(contract: Contract) -> None:
    base = contract.standin.base_url if contract.standin is not None else REAL_API_BASE
    gateway = StripeGateway(api_key="sk_test_wrong", api_base=base)
    with pytest.raises(GatewayError) as caught:
        gateway.customer_create(email="a@example.com", metadata={}, idempotency_key="k")
    assert caught.value.http_status == 401


# -- disputes ----------------------------------------------------------------------------


def _disputed_charge(contract: Contract, name: str, amount: int) -> str:
    """A charge on Stripe's dispute test card: the card holder disputes it once captured."""
    customer, method = contract.customer_with_card("pm_card_createDispute")
    intent = contract.gateway.payment_intent_charge(
        amount_minor=amount,
        currency="eur",
        customer_id=customer,
        payment_method_id=method,
        transfer_group=f"job_{name}",
        metadata={"job_id": name},
        idempotency_key=contract.key(f"{name}:charge"),
    )
    return intent.charge_id


def _dispute_of(contract: Contract, charge_id: str, started: datetime) -> str:
    """Stripe opens the dispute shortly after the charge; poll its list for it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [
            d.id for d in contract.gateway.disputes(created_gte=started) if d.charge_id == charge_id
        ]
        if found:
            return found[0]
        time.sleep(1)
    pytest.fail(f"no dispute appeared for {charge_id}")


def test_a_dispute_is_read_with_its_balance_transactions_and_takes_evidence_once(
    contract: Contract,
) -> None:
    started = datetime.now(UTC) - timedelta(seconds=2)
    charge_id = _disputed_charge(contract, "60", 1500)
    dispute_id = _dispute_of(contract, charge_id, started)

    dispute = contract.gateway.dispute_retrieve(dispute_id=dispute_id)
    assert (dispute.charge_id, dispute.amount, dispute.currency, dispute.reason) == (
        charge_id,
        1500,
        "eur",
        "fraudulent",
    )
    assert (dispute.status, dispute.has_evidence, dispute.submission_count) == (
        "needs_response",
        False,
        0,
    )
    assert dispute.evidence_due_by is not None
    assert dispute.evidence_due_by > datetime.now(UTC)
    (withdrawal,) = dispute.balance_transactions
    assert withdrawal.amount == -1500
    assert withdrawal.fee > 0
    assert withdrawal.net == -1500 - withdrawal.fee
    assert withdrawal.source == dispute_id

    arguments = {
        "dispute_id": dispute_id,
        "evidence": {"service_date": "2026-01-31", "uncategorized_text": "Delivered with PIN."},
        "metadata": {"dispute_id": "7"},
        "idempotency_key": contract.key("60:evidence"),
    }
    submitted = contract.gateway.dispute_submit_evidence(**arguments)
    assert (submitted.id, submitted.status, submitted.has_evidence, submitted.submission_count) == (
        dispute_id,
        "under_review",
        True,
        1,
    )
    assert contract.gateway.dispute_submit_evidence(**arguments) == submitted
    with pytest.raises(IdempotencyMismatch):
        contract.gateway.dispute_submit_evidence(
            **{**arguments, "evidence": {"service_date": "2026-02-01"}}
        )
    with pytest.raises(GatewayError):
        contract.gateway.dispute_submit_evidence(
            **{**arguments, "idempotency_key": contract.key("60:evidence-again")}
        )
    with pytest.raises(GatewayError) as caught:
        contract.gateway.dispute_retrieve(dispute_id="dp_nonexistent000000000000")
    assert caught.value.http_status == 404


def _png(width: int, height: int) -> bytes:
    """A valid PNG (grey, 8 bits), so real Stripe can read it too."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    rows = b"".join(b"\x00" + bytes((x * 7 + y) % 256 for x in range(width)) for y in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# A 1x1 GIF: an image type Stripe does not take as dispute evidence.
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


def test_an_evidence_file_uploads_once_per_key_and_goes_in_a_file_field(
    contract: Contract,
) -> None:
    photo = _png(64, 48)
    arguments = {
        "purpose": "dispute_evidence",
        "filename": "delivery.png",
        "content": photo,
        "idempotency_key": contract.key("61:file"),
    }
    uploaded = contract.gateway.file_upload(**arguments)
    assert uploaded.id.startswith("file_")
    assert (uploaded.purpose, uploaded.size, uploaded.type, uploaded.filename) == (
        "dispute_evidence",
        len(photo),
        "png",
        "delivery.png",
    )
    assert contract.gateway.file_upload(**arguments) == uploaded
    with pytest.raises(IdempotencyMismatch):
        contract.gateway.file_upload(**{**arguments, "content": _png(64, 49)})
    with pytest.raises(GatewayError) as refused:
        contract.gateway.file_upload(
            **{**arguments, "content": GIF, "idempotency_key": contract.key("61:gif")}
        )
    assert refused.value.http_status == 400

    started = datetime.now(UTC) - timedelta(seconds=2)
    dispute_id = _dispute_of(contract, _disputed_charge(contract, "61", 1200), started)
    with pytest.raises(GatewayError) as missing:
        contract.gateway.dispute_submit_evidence(
            dispute_id=dispute_id,
            evidence={"shipping_documentation": "file_doesnotexist00000000"},
            metadata={},
            idempotency_key=contract.key("61:evidence-missing"),
        )
    assert missing.value.http_status in (400, 404)
    submitted = contract.gateway.dispute_submit_evidence(
        dispute_id=dispute_id,
        evidence={"shipping_documentation": uploaded.id, "uncategorized_text": "Photo at door."},
        metadata={},
        idempotency_key=contract.key("61:evidence"),
    )
    assert (submitted.status, submitted.evidence_files) == (
        "under_review",
        {"shipping_documentation": uploaded.id},
    )
    if contract.standin is not None:
        stored = contract.standin.store.objects["file"][uploaded.id]
        assert stored["_content"] == photo
