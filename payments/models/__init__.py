"""Payments models by topic: the ledger, job payments and billing, payouts, the outbox, events,
disputes."""

from payments.models.billing import JobPayment, PaymentStatus, ShopBilling, Tip, TipStatus
from payments.models.disputes import (
    Dispute,
    DisputeAction,
    DisputeActionKind,
    DisputeMessage,
    DisputeOpener,
    DisputeParty,
    DisputePhoto,
    DisputeReason,
    DisputeResolution,
    DisputeState,
)
from payments.models.events import ReconciliationReport, StripeEvent
from payments.models.ledger import AccountKind, EntryKind, JournalEntry, JournalLine, LedgerAccount
from payments.models.outbox import CommandKind, CommandState, MoneyCommand
from payments.models.payouts import CourierPayoutAccount, Transfer, TransferKind, TransferState

__all__ = [
    "AccountKind",
    "CommandKind",
    "CommandState",
    "CourierPayoutAccount",
    "Dispute",
    "DisputeAction",
    "DisputeActionKind",
    "DisputeMessage",
    "DisputeOpener",
    "DisputeParty",
    "DisputePhoto",
    "DisputeReason",
    "DisputeResolution",
    "DisputeState",
    "EntryKind",
    "JobPayment",
    "JournalEntry",
    "JournalLine",
    "LedgerAccount",
    "MoneyCommand",
    "PaymentStatus",
    "ReconciliationReport",
    "ShopBilling",
    "StripeEvent",
    "Tip",
    "TipStatus",
    "Transfer",
    "TransferKind",
    "TransferState",
]
