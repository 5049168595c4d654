"""The dispute services (every write on disputes), re-exported from their modules."""

from payments.disputes.services.chargebacks import (
    chargeback_evidence,
    chargeback_sync,
    dispute_submit_evidence,
)
from payments.disputes.services.core import (
    dispute_courier_reply,
    dispute_from_problem,
    dispute_open,
    dispute_reject,
    dispute_request_info,
)
from payments.disputes.services.errors import (
    DisputeAlreadyOpen,
    DisputeAmountError,
    DisputeInvalidInput,
    DisputeNotAllowed,
    DisputeNotFound,
    DisputeOverSupportLimit,
    DisputePermissionDenied,
    DisputeStateError,
    IdempotencyKeyReused,
)
from payments.disputes.services.money import (
    adjustable_minor,
    dispute_courier_adjust,
    dispute_courier_compensate,
    dispute_full_refund,
    dispute_refund,
    refundable_parts,
)
from payments.disputes.services.refund_failures import dispute_refund_failed
from payments.disputes.services.sweep import disputes_sweep

__all__ = [
    "DisputeAlreadyOpen",
    "DisputeAmountError",
    "DisputeInvalidInput",
    "DisputeNotAllowed",
    "DisputeNotFound",
    "DisputeOverSupportLimit",
    "DisputePermissionDenied",
    "DisputeStateError",
    "IdempotencyKeyReused",
    "adjustable_minor",
    "chargeback_evidence",
    "chargeback_sync",
    "dispute_courier_adjust",
    "dispute_courier_compensate",
    "dispute_courier_reply",
    "dispute_from_problem",
    "dispute_full_refund",
    "dispute_open",
    "dispute_refund",
    "dispute_refund_failed",
    "dispute_reject",
    "dispute_request_info",
    "dispute_submit_evidence",
    "disputes_sweep",
    "refundable_parts",
]
