"""What the money flows call: the PaymentGateway interface and the errors it raises."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from payments.gateway.results import (
        AccountResult,
        BalanceTransaction,
        Card,
        DisputeResult,
        FileResult,
        IntentResult,
        RefundResult,
        ReversalResult,
        SetupIntentResult,
        TransferResult,
    )


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
    def dispute_retrieve(self, *, dispute_id: str) -> DisputeResult: ...
    def dispute_submit_evidence(
        self,
        *,
        dispute_id: str,
        evidence: dict[str, str],
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> DisputeResult: ...
    def disputes(self, *, created_gte: datetime | None = None) -> Iterator[DisputeResult]: ...
    def file_upload(
        self, *, purpose: str, filename: str, content: bytes, idempotency_key: str
    ) -> FileResult: ...
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
