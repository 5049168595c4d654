"""StripeGateway: the PaymentGateway on ``stripe.StripeClient``, the only code importing ``stripe``.

Every write takes an idempotency key derived from our own row, so a retried command can
never move money twice. Network failures and Stripe's 5xx/429 answers raise
``GatewayUnavailable`` (retry later); every other refusal raises a ``GatewayError``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import stripe
from django.conf import settings

from payments.gateway.interface import (
    AuthenticationRequired,
    GatewayError,
    GatewayUnavailable,
    IdempotencyMismatch,
    PaymentDeclined,
    PaymentGateway,
    SignatureError,
)
from payments.gateway.results import (
    AccountResult,
    BalanceTransaction,
    Card,
    DisputeResult,
    IntentResult,
    RefundResult,
    ReversalResult,
    SetupIntentResult,
    TransferResult,
    account_result,
    balance_transaction_result,
    checked_intent,
    created_filter,
    dispute_result,
    id_of,
    intent_result,
    transfer_result,
)

WEBHOOK_TOLERANCE_SECONDS = 300
LIST_PAGE_SIZE = 100
# The latest charge and its balance transaction carry capture_before and the fee.
INTENT_EXPAND = ["latest_charge.balance_transaction"]


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
        "intent_id": id_of(error.get("payment_intent")),
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
        return checked_intent(intent)

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
        return intent_result(intent)

    def payment_intent_cancel(self, *, intent_id: str, idempotency_key: str) -> IntentResult:
        intent = _call(
            lambda: self.client.v1.payment_intents.cancel(
                intent_id, {"expand": INTENT_EXPAND}, {"idempotency_key": idempotency_key}
            )
        )
        return intent_result(intent)

    def payment_intent_retrieve(self, *, intent_id: str) -> IntentResult:
        intent = _call(
            lambda: self.client.v1.payment_intents.retrieve(intent_id, {"expand": INTENT_EXPAND})
        )
        return intent_result(intent)

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
            charge_id=id_of(refund["charge"]) or "",
            balance_transaction_id=id_of(refund.get("balance_transaction")),
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
        return transfer_result(transfer)

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
            transfer_id=id_of(reversal["transfer"]) or transfer_id,
            amount=reversal["amount"],
            currency=reversal["currency"],
        )

    # -- disputes (chargebacks) ---------------------------------------------------------

    def dispute_retrieve(self, *, dispute_id: str) -> DisputeResult:
        return dispute_result(_call(lambda: self.client.v1.disputes.retrieve(dispute_id)))

    def dispute_submit_evidence(
        self,
        *,
        dispute_id: str,
        evidence: dict[str, str],
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> DisputeResult:
        """Send the text evidence and submit it to the card holder's bank (``submit=true``);
        Stripe takes one submission, so the key makes a retried call the same one."""
        dispute = _call(
            lambda: self.client.v1.disputes.update(
                dispute_id,
                {"evidence": evidence, "metadata": metadata, "submit": True},
                {"idempotency_key": idempotency_key},
            )
        )
        return dispute_result(dispute)

    def disputes(self, *, created_gte: datetime | None = None) -> Iterator[DisputeResult]:
        for item in self._paged(self.client.v1.disputes, created_gte):
            yield dispute_result(item)

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
        return account_result(account)

    def account_retrieve(self, *, account_id: str) -> AccountResult:
        return account_result(_call(lambda: self.client.v1.accounts.retrieve(account_id)))

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
        params = {"limit": LIST_PAGE_SIZE, **created_filter(created_gte)}
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
            yield balance_transaction_result(item)

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
                "payment_intent": id_of(item.get("payment_intent")),
                "transfer_group": item.get("transfer_group"),
                "balance_transaction": id_of(item.get("balance_transaction")),
                "metadata": dict(item.get("metadata") or {}),
                "created": datetime.fromtimestamp(item["created"], tz=UTC),
            }

    def transfers(self, *, created_gte: datetime | None = None) -> Iterator[TransferResult]:
        for item in self._paged(self.client.v1.transfers, created_gte):
            yield transfer_result(item)

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
        except UnicodeDecodeError as exc:
            # stripe-python decodes the body before it looks at the signature.
            raise SignatureError(f"the payload is not UTF-8 text: {exc.reason}") from exc
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
