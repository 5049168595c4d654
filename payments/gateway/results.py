"""The gateway's answers: frozen dataclasses with plain fields, and how Stripe JSON maps to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from payments.gateway.interface import AuthenticationRequired, PaymentDeclined

# Stripe's dispute evidence fields that take the id of a file (purpose dispute_evidence).
FILE_EVIDENCE_FIELDS = frozenset(
    {
        "cancellation_policy",
        "customer_communication",
        "customer_signature",
        "duplicate_charge_documentation",
        "receipt",
        "refund_policy",
        "service_documentation",
        "shipping_documentation",
        "uncategorized_file",
    }
)


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


@dataclass(frozen=True)
class DisputeResult:
    """A card holder's dispute (chargeback) of one of our charges, and what it moved."""

    id: str
    charge_id: str
    amount: int
    currency: str
    reason: str
    # warning_needs_response | needs_response | under_review | won | lost | ...
    status: str
    evidence_due_by: datetime | None
    has_evidence: bool
    submission_count: int
    balance_transactions: tuple[BalanceTransaction, ...] = ()
    # The file evidence fields that name an uploaded file: field -> file id.
    evidence_files: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FileResult:
    """A file uploaded to Stripe (dispute evidence): its id goes in an evidence field."""

    id: str
    purpose: str
    size: int
    # pdf | jpg | png
    type: str
    filename: str


def file_result(uploaded: Any) -> FileResult:
    return FileResult(
        id=uploaded["id"],
        purpose=uploaded["purpose"],
        size=int(uploaded["size"]),
        type=uploaded.get("type") or "",
        filename=uploaded.get("filename") or "",
    )


def from_timestamp(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


def id_of(value: Any) -> str | None:
    """An expandable field is either an id or the expanded object."""
    if value is None or isinstance(value, str):
        return value
    return value["id"]


def created_filter(created_gte: datetime | None) -> dict[str, Any]:
    return {} if created_gte is None else {"created": {"gte": int(created_gte.timestamp())}}


def intent_result(intent: Any) -> IntentResult:
    charge = intent.get("latest_charge")
    capture_before = fee = balance_transaction_id = None
    if charge is not None and not isinstance(charge, str):
        card = (charge.get("payment_method_details") or {}).get("card") or {}
        capture_before = from_timestamp(card.get("capture_before"))
        balance_transaction = charge.get("balance_transaction")
        balance_transaction_id = id_of(balance_transaction)
        if balance_transaction is not None and not isinstance(balance_transaction, str):
            fee = balance_transaction["fee"]
    return IntentResult(
        id=intent["id"],
        status=intent["status"],
        amount=intent["amount"],
        amount_capturable=intent.get("amount_capturable") or 0,
        amount_received=intent.get("amount_received") or 0,
        currency=intent["currency"],
        charge_id=id_of(charge),
        capture_before=capture_before,
        fee_minor=fee,
        balance_transaction_id=balance_transaction_id,
    )


def checked_intent(intent: Any) -> IntentResult:
    """An off-session confirmation that needs the customer raises, like a decline does."""
    result = intent_result(intent)
    if result.status == "requires_action":
        raise AuthenticationRequired(
            "The card needs the customer to authenticate this payment.",
            stripe_code="authentication_required",
            intent_id=result.id,
        )
    if result.status == "requires_payment_method":
        raise PaymentDeclined("The payment was declined.", intent_id=result.id)
    return result


def transfer_result(transfer: Any) -> TransferResult:
    return TransferResult(
        id=transfer["id"],
        amount=transfer["amount"],
        currency=transfer["currency"],
        destination=id_of(transfer["destination"]) or "",
        source_transaction=id_of(transfer.get("source_transaction")),
        transfer_group=transfer.get("transfer_group"),
        amount_reversed=transfer.get("amount_reversed") or 0,
        metadata=dict(transfer.get("metadata") or {}),
        created=from_timestamp(transfer.get("created")),
    )


def account_result(account: Any) -> AccountResult:
    requirements = account.get("requirements") or {}
    return AccountResult(
        id=account["id"],
        payouts_enabled=bool(account.get("payouts_enabled")),
        charges_enabled=bool(account.get("charges_enabled")),
        details_submitted=bool(account.get("details_submitted")),
        requirements_due=list(requirements.get("currently_due") or []),
    )


def balance_transaction_result(item: Any) -> BalanceTransaction:
    return BalanceTransaction(
        id=item["id"],
        amount=item["amount"],
        fee=item["fee"],
        net=item["net"],
        currency=item["currency"],
        type=item["type"],
        source=id_of(item.get("source")),
        created=datetime.fromtimestamp(item["created"], tz=UTC),
    )


def dispute_result(dispute: Any) -> DisputeResult:
    """Stripe's Dispute object; its ``balance_transactions`` are full objects (never ids)."""
    details = dispute.get("evidence_details") or {}
    return DisputeResult(
        id=dispute["id"],
        charge_id=id_of(dispute["charge"]) or "",
        amount=dispute["amount"],
        currency=dispute["currency"],
        reason=dispute.get("reason") or "",
        status=dispute["status"],
        evidence_due_by=from_timestamp(details.get("due_by")),
        has_evidence=bool(details.get("has_evidence")),
        submission_count=int(details.get("submission_count") or 0),
        balance_transactions=tuple(
            balance_transaction_result(item) for item in dispute.get("balance_transactions") or []
        ),
        evidence_files={
            name: id_of(value) or ""
            for name, value in (dispute.get("evidence") or {}).items()
            if name in FILE_EVIDENCE_FIELDS and value
        },
    )
