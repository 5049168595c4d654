"""The payment gateway: the one interface the money flows call, and Stripe behind it.

This is the only module that imports ``stripe``. Every write takes an idempotency key
derived from our own row, so a retried command can never move money twice. Network
failures and Stripe's 5xx/429 answers raise ``GatewayUnavailable`` (retry later); every
other Stripe answer that refuses the request raises a ``GatewayError`` subclass.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

import stripe
from django.conf import settings

WEBHOOK_TOLERANCE_SECONDS = 300
LIST_PAGE_SIZE = 100
# The latest charge and its balance transaction carry capture_before and the fee.
INTENT_EXPAND = ["latest_charge.balance_transaction"]


@dataclass(frozen=True)
class Card:
    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class SetupIntentResult:
    id: str
    client_secret: str
    customer_id: str


@dataclass(frozen=True)
class IntentResult:
    id: str
    # requires_capture | succeeded | canceled | requires_action | requires_payment_method
    status: str
    amount: int
    amount_capturable: int
    amount_received: int
    currency: str
    charge_id: str | None
    capture_before: datetime | None
    fee_minor: int | None
    balance_transaction_id: str | None


@dataclass(frozen=True)
class RefundResult:
    id: str
    status: str
    amount: int
    currency: str
    charge_id: str
    balance_transaction_id: str | None


@dataclass(frozen=True)
class TransferResult:
    id: str
    amount: int
    currency: str
    destination: str
    source_transaction: str | None
    transfer_group: str | None
    amount_reversed: int
    metadata: dict[str, str] = field(default_factory=dict)
    created: datetime | None = None


@dataclass(frozen=True)
class ReversalResult:
    id: str
    transfer_id: str
    amount: int
    currency: str


@dataclass(frozen=True)
class AccountResult:
    id: str
    payouts_enabled: bool
    charges_enabled: bool
    details_submitted: bool
    requirements_due: list[str]


@dataclass(frozen=True)
class BalanceTransaction:
    id: str
    amount: int
    fee: int
    net: int
    currency: str
    type: str
    source: str | None
    created: datetime


class GatewayError(Exception):
    """Stripe refused the request (a 4xx answer); retrying the same call will not help."""

    code = "gateway_error"

    def __init__(
        self,
        message: str,
        *,
        stripe_code: str | None = None,
        decline_code: str | None = None,
        param: str | None = None,
        intent_id: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.stripe_code = stripe_code
        self.decline_code = decline_code
        self.param = param
        # A declined or unauthenticated confirmation still leaves a PaymentIntent behind.
        self.intent_id = intent_id
        self.http_status = http_status


class PaymentDeclined(GatewayError):
    code = "payment_declined"


class AuthenticationRequired(GatewayError):
    code = "payment_authentication_required"


class IdempotencyMismatch(GatewayError):
    code = "idempotency_error"


class GatewayUnavailable(Exception):
    """Network error, timeout, Stripe 5xx or 429: the outcome is unknown, retry later."""


class SignatureError(Exception):
    """A webhook's Stripe-Signature is missing, wrong or older than the tolerance."""


class PaymentGateway(Protocol):
    def customer_create(
        self, *, email: str, metadata: dict[str, str], idempotency_key: str
    ) -> str: ...
    def setup_intent_create(
        self, *, customer_id: str, idempotency_key: str
    ) -> SetupIntentResult: ...
    def payment_method_attach(self, *, customer_id: str, payment_method_id: str) -> Card: ...
    def payment_method_detach(self, *, payment_method_id: str) -> None: ...
    def payment_intent_authorise(
        self,
        *,
        amount_minor: int,
        currency: str,
        customer_id: str,
        payment_method_id: str,
        transfer_group: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> IntentResult: ...
    def payment_intent_charge(
        self,
        *,
        amount_minor: int,
        currency: str,
        customer_id: str,
        payment_method_id: str,
        transfer_group: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> IntentResult: ...
    def payment_intent_capture(
        self, *, intent_id: str, amount_to_capture: int, idempotency_key: str
    ) -> IntentResult: ...
    def payment_intent_cancel(self, *, intent_id: str, idempotency_key: str) -> IntentResult: ...
    def payment_intent_retrieve(self, *, intent_id: str) -> IntentResult: ...
    def refund_create(
        self,
        *,
        payment_intent_id: str,
        amount_minor: int,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> RefundResult: ...
    def transfer_create(
        self,
        *,
        amount_minor: int,
        currency: str,
        destination: str,
        source_transaction: str | None,
        transfer_group: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> TransferResult: ...
    def transfer_reversal_create(
        self,
        *,
        transfer_id: str,
        amount_minor: int,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> ReversalResult: ...
    def account_create(
        self, *, email: str, country: str, metadata: dict[str, str], idempotency_key: str
    ) -> AccountResult: ...
    def account_retrieve(self, *, account_id: str) -> AccountResult: ...
    def account_link_create(self, *, account_id: str, refresh_url: str, return_url: str) -> str: ...
    def balance_transactions(
        self, *, created_gte: datetime | None = None
    ) -> Iterator[BalanceTransaction]: ...
    def charges(self, *, created_gte: datetime | None = None) -> Iterator[dict[str, Any]]: ...
    def transfers(self, *, created_gte: datetime | None = None) -> Iterator[TransferResult]: ...
    def event_from_webhook(
        self, *, payload: bytes, signature_header: str, secret: str
    ) -> dict[str, Any]: ...


def _from_timestamp(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


def _id_of(value: Any) -> str | None:
    """An expandable field is either an id or the expanded object."""
    if value is None or isinstance(value, str):
        return value
    return value["id"]


def _created_filter(created_gte: datetime | None) -> dict[str, Any]:
    return {} if created_gte is None else {"created": {"gte": int(created_gte.timestamp())}}


def _error_body(exc: stripe.StripeError) -> dict[str, Any]:
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error = body.get("error")
    return error if isinstance(error, dict) else {}


def _mapped_error(exc: stripe.StripeError) -> Exception:
    """Turn a stripe-python exception into ours (see the module docstring)."""
    message = exc.user_message or str(exc) or type(exc).__name__
    status = exc.http_status
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError) or (
        status is not None and status >= 500
    ):
        return GatewayUnavailable(f"{type(exc).__name__}: {message}")
    error = _error_body(exc)
    details: dict[str, Any] = {
        "stripe_code": exc.code or error.get("code"),
        "decline_code": error.get("decline_code"),
        "param": error.get("param"),
        "intent_id": _id_of(error.get("payment_intent")),
        "http_status": status,
    }
    if isinstance(exc, stripe.IdempotencyError):
        return IdempotencyMismatch(message, **details)
    if isinstance(exc, stripe.CardError):
        if exc.code == "authentication_required" or details["decline_code"] == (
            "authentication_required"
        ):
            return AuthenticationRequired(message, **details)
        return PaymentDeclined(message, **details)
    if status == 409:
        # Another request with this idempotency key is still running at Stripe.
        return GatewayUnavailable(f"{type(exc).__name__}: {message}")
    return GatewayError(message, **details)


def _call(fn: Callable[[], Any]) -> dict[str, Any]:
    """Run one Stripe request; its answer as plain dicts and lists, its errors as ours."""
    try:
        answer = fn()
    except stripe.StripeError as exc:
        raise _mapped_error(exc) from exc
    return answer.to_dict() if isinstance(answer, stripe.StripeObject) else answer


def _intent_result(intent: Any) -> IntentResult:
    charge = intent.get("latest_charge")
    capture_before = fee = balance_transaction_id = None
    if charge is not None and not isinstance(charge, str):
        card = (charge.get("payment_method_details") or {}).get("card") or {}
        capture_before = _from_timestamp(card.get("capture_before"))
        balance_transaction = charge.get("balance_transaction")
        balance_transaction_id = _id_of(balance_transaction)
        if balance_transaction is not None and not isinstance(balance_transaction, str):
            fee = balance_transaction["fee"]
    return IntentResult(
        id=intent["id"],
        status=intent["status"],
        amount=intent["amount"],
        amount_capturable=intent.get("amount_capturable") or 0,
        amount_received=intent.get("amount_received") or 0,
        currency=intent["currency"],
        charge_id=_id_of(charge),
        capture_before=capture_before,
        fee_minor=fee,
        balance_transaction_id=balance_transaction_id,
    )


def _checked_intent(intent: Any) -> IntentResult:
    """An off-session confirmation that needs the customer raises, like a decline does."""
    result = _intent_result(intent)
    if result.status == "requires_action":
        raise AuthenticationRequired(
            "The card needs the customer to authenticate this payment.",
            stripe_code="authentication_required",
            intent_id=result.id,
        )
    if result.status == "requires_payment_method":
        raise PaymentDeclined("The payment was declined.", intent_id=result.id)
    return result


def _transfer_result(transfer: Any) -> TransferResult:
    return TransferResult(
        id=transfer["id"],
        amount=transfer["amount"],
        currency=transfer["currency"],
        destination=_id_of(transfer["destination"]) or "",
        source_transaction=_id_of(transfer.get("source_transaction")),
        transfer_group=transfer.get("transfer_group"),
        amount_reversed=transfer.get("amount_reversed") or 0,
        metadata=dict(transfer.get("metadata") or {}),
        created=_from_timestamp(transfer.get("created")),
    )


def _account_result(account: Any) -> AccountResult:
    requirements = account.get("requirements") or {}
    return AccountResult(
        id=account["id"],
        payouts_enabled=bool(account.get("payouts_enabled")),
        charges_enabled=bool(account.get("charges_enabled")),
        details_submitted=bool(account.get("details_submitted")),
        requirements_due=list(requirements.get("currently_due") or []),
    )


class StripeGateway:
    """``PaymentGateway`` on ``stripe.StripeClient`` (api.stripe.com or ``api_base``)."""

    def __init__(self, *, api_key: str, api_base: str = "", timeout_seconds: float = 20.0) -> None:
        base_addresses: stripe.BaseAddresses = {}
        if api_base:
            base = api_base.rstrip("/")
            base_addresses = {"api": base, "connect": base, "files": base}
        self.client = stripe.StripeClient(
            api_key,
            base_addresses=base_addresses,
            # Our outbox retries with the same idempotency key; the library must not.
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=timeout_seconds),
        )

    # -- customers and cards -------------------------------------------------------------

    def customer_create(self, *, email: str, metadata: dict[str, str], idempotency_key: str) -> str:
        customer = _call(
            lambda: self.client.v1.customers.create(
                {"email": email, "metadata": metadata},
                {"idempotency_key": idempotency_key},
            )
        )
        return customer["id"]

    def setup_intent_create(self, *, customer_id: str, idempotency_key: str) -> SetupIntentResult:
        intent = _call(
            lambda: self.client.v1.setup_intents.create(
                {"customer": customer_id, "usage": "off_session", "payment_method_types": ["card"]},
                {"idempotency_key": idempotency_key},
            )
        )
        return SetupIntentResult(
            id=intent["id"], client_secret=intent["client_secret"], customer_id=customer_id
        )

    def payment_method_attach(self, *, customer_id: str, payment_method_id: str) -> Card:
        """Attach the card and make it the customer's default for invoices and off-session use."""
        method = _call(
            lambda: self.client.v1.payment_methods.attach(
                payment_method_id, {"customer": customer_id}
            )
        )
        _call(
            lambda: self.client.v1.customers.update(
                customer_id, {"invoice_settings": {"default_payment_method": method["id"]}}
            )
        )
        card = method["card"]
        return Card(
            payment_method_id=method["id"],
            brand=card["brand"],
            last4=card["last4"],
            exp_month=card["exp_month"],
            exp_year=card["exp_year"],
        )

    def payment_method_detach(self, *, payment_method_id: str) -> None:
        _call(lambda: self.client.v1.payment_methods.detach(payment_method_id))

    # -- payment intents -----------------------------------------------------------------

    def _intent_create(
        self,
        *,
        capture_method: str,
        amount_minor: int,
        currency: str,
        customer_id: str,
        payment_method_id: str,
        transfer_group: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> IntentResult:
        intent = _call(
            lambda: self.client.v1.payment_intents.create(
                {
                    "amount": amount_minor,
                    "currency": currency,
                    "customer": customer_id,
                    "payment_method": payment_method_id,
                    "payment_method_types": ["card"],
                    "capture_method": capture_method,
                    "confirm": True,
                    "off_session": True,
                    "transfer_group": transfer_group,
                    "metadata": metadata,
                    "expand": INTENT_EXPAND,
                },
                {"idempotency_key": idempotency_key},
            )
        )
        return _checked_intent(intent)

    def payment_intent_authorise(
        self,
        *,
        amount_minor: int,
        currency: str,
        customer_id: str,
        payment_method_id: str,
        transfer_group: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> IntentResult:
        """Hold the amount on the card (manual capture, confirmed off session)."""
        return self._intent_create(
            capture_method="manual",
            amount_minor=amount_minor,
            currency=currency,
            customer_id=customer_id,
            payment_method_id=payment_method_id,
            transfer_group=transfer_group,
            metadata=metadata,
            idempotency_key=idempotency_key,
        )

    def payment_intent_charge(
        self,
        *,
        amount_minor: int,
        currency: str,
        customer_id: str,
        payment_method_id: str,
        transfer_group: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> IntentResult:
        """Charge at once (automatic capture, confirmed off session), e.g. a tip."""
        return self._intent_create(
            capture_method="automatic",
            amount_minor=amount_minor,
            currency=currency,
            customer_id=customer_id,
            payment_method_id=payment_method_id,
            transfer_group=transfer_group,
            metadata=metadata,
            idempotency_key=idempotency_key,
        )

    def payment_intent_capture(
        self, *, intent_id: str, amount_to_capture: int, idempotency_key: str
    ) -> IntentResult:
        """Capture part or all of a hold; Stripe releases the rest."""
        intent = _call(
            lambda: self.client.v1.payment_intents.capture(
                intent_id,
                {"amount_to_capture": amount_to_capture, "expand": INTENT_EXPAND},
                {"idempotency_key": idempotency_key},
            )
        )
        return _intent_result(intent)

    def payment_intent_cancel(self, *, intent_id: str, idempotency_key: str) -> IntentResult:
        intent = _call(
            lambda: self.client.v1.payment_intents.cancel(
                intent_id, {"expand": INTENT_EXPAND}, {"idempotency_key": idempotency_key}
            )
        )
        return _intent_result(intent)

    def payment_intent_retrieve(self, *, intent_id: str) -> IntentResult:
        intent = _call(
            lambda: self.client.v1.payment_intents.retrieve(intent_id, {"expand": INTENT_EXPAND})
        )
        return _intent_result(intent)

    # -- refunds and transfers -----------------------------------------------------------

    def refund_create(
        self,
        *,
        payment_intent_id: str,
        amount_minor: int,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> RefundResult:
        refund = _call(
            lambda: self.client.v1.refunds.create(
                {"payment_intent": payment_intent_id, "amount": amount_minor, "metadata": metadata},
                {"idempotency_key": idempotency_key},
            )
        )
        return RefundResult(
            id=refund["id"],
            status=refund["status"],
            amount=refund["amount"],
            currency=refund["currency"],
            charge_id=_id_of(refund["charge"]) or "",
            balance_transaction_id=_id_of(refund.get("balance_transaction")),
        )

    def transfer_create(
        self,
        *,
        amount_minor: int,
        currency: str,
        destination: str,
        source_transaction: str | None,
        transfer_group: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> TransferResult:
        params: dict[str, Any] = {
            "amount": amount_minor,
            "currency": currency,
            "destination": destination,
            "transfer_group": transfer_group,
            "metadata": metadata,
        }
        if source_transaction:
            params["source_transaction"] = source_transaction
        transfer = _call(
            lambda: self.client.v1.transfers.create(params, {"idempotency_key": idempotency_key})
        )
        return _transfer_result(transfer)

    def transfer_reversal_create(
        self,
        *,
        transfer_id: str,
        amount_minor: int,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> ReversalResult:
        reversal = _call(
            lambda: self.client.v1.transfers.reversals.create(
                transfer_id,
                {"amount": amount_minor, "metadata": metadata},
                {"idempotency_key": idempotency_key},
            )
        )
        return ReversalResult(
            id=reversal["id"],
            transfer_id=_id_of(reversal["transfer"]) or transfer_id,
            amount=reversal["amount"],
            currency=reversal["currency"],
        )

    # -- connected accounts --------------------------------------------------------------

    def account_create(
        self, *, email: str, country: str, metadata: dict[str, str], idempotency_key: str
    ) -> AccountResult:
        """An Express account that can receive transfers."""
        account = _call(
            lambda: self.client.v1.accounts.create(
                {
                    "type": "express",
                    "country": country,
                    "email": email,
                    "capabilities": {
                        "card_payments": {"requested": True},
                        "transfers": {"requested": True},
                    },
                    "metadata": metadata,
                },
                {"idempotency_key": idempotency_key},
            )
        )
        return _account_result(account)

    def account_retrieve(self, *, account_id: str) -> AccountResult:
        return _account_result(_call(lambda: self.client.v1.accounts.retrieve(account_id)))

    def account_link_create(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        """A single-use onboarding URL for the account holder."""
        link = _call(
            lambda: self.client.v1.account_links.create(
                {
                    "account": account_id,
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                    "type": "account_onboarding",
                }
            )
        )
        return link["url"]

    # -- lists (reconciliation) ----------------------------------------------------------

    def _paged(self, service: Any, created_gte: datetime | None) -> Iterator[Any]:
        params = {"limit": LIST_PAGE_SIZE, **_created_filter(created_gte)}
        page = _call(lambda: service.list(params))
        while True:
            yield from page["data"]
            if not page["has_more"] or not page["data"]:
                return
            following = {**params, "starting_after": page["data"][-1]["id"]}
            page = _call(lambda following=following: service.list(following))

    def balance_transactions(
        self, *, created_gte: datetime | None = None
    ) -> Iterator[BalanceTransaction]:
        for item in self._paged(self.client.v1.balance_transactions, created_gte):
            yield BalanceTransaction(
                id=item["id"],
                amount=item["amount"],
                fee=item["fee"],
                net=item["net"],
                currency=item["currency"],
                type=item["type"],
                source=_id_of(item.get("source")),
                created=datetime.fromtimestamp(item["created"], tz=UTC),
            )

    def charges(self, *, created_gte: datetime | None = None) -> Iterator[dict[str, Any]]:
        """id, amount, amount_captured, amount_refunded, currency, payment_intent, ..."""
        for item in self._paged(self.client.v1.charges, created_gte):
            yield {
                "id": item["id"],
                "amount": item["amount"],
                "amount_captured": item["amount_captured"],
                "amount_refunded": item["amount_refunded"],
                "captured": bool(item["captured"]),
                "currency": item["currency"],
                "status": item["status"],
                "payment_intent": _id_of(item.get("payment_intent")),
                "transfer_group": item.get("transfer_group"),
                "balance_transaction": _id_of(item.get("balance_transaction")),
                "metadata": dict(item.get("metadata") or {}),
                "created": datetime.fromtimestamp(item["created"], tz=UTC),
            }

    def transfers(self, *, created_gte: datetime | None = None) -> Iterator[TransferResult]:
        for item in self._paged(self.client.v1.transfers, created_gte):
            yield _transfer_result(item)

    # -- webhooks ------------------------------------------------------------------------

    def event_from_webhook(
        self, *, payload: bytes, signature_header: str, secret: str
    ) -> dict[str, Any]:
        """The verified event as plain JSON data; ``SignatureError`` when it can't be trusted."""
        try:
            stripe.WebhookSignature.verify_header(
                payload, signature_header, secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError as exc:
            raise SignatureError(str(exc)) from exc
        try:
            event = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SignatureError(f"the signed payload is not JSON: {exc}") from exc
        if not isinstance(event, dict) or "id" not in event or "type" not in event:
            raise SignatureError("the signed payload is not a Stripe event")
        return event


@lru_cache(maxsize=8)
def _gateway_for(api_key: str, api_base: str, timeout_seconds: float) -> StripeGateway:
    return StripeGateway(api_key=api_key, api_base=api_base, timeout_seconds=timeout_seconds)


def get_gateway() -> PaymentGateway:
    """The process's gateway, built from settings (a new one when those settings change)."""
    if not settings.STRIPE_SECRET_KEY:
        raise GatewayUnavailable(
            "STRIPE_SECRET_KEY is not set (./dev run starts the Stripe stand-in without one)"
        )
    return _gateway_for(
        settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE, settings.STRIPE_TIMEOUT_SECONDS
    )
