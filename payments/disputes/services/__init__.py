"""The dispute services (every write on disputes), re-exported from their modules."""

from payments.disputes.services.core import (
    dispute_courier_reply,
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
    "dispute_courier_reply",
    "dispute_open",
    "dispute_reject",
    "dispute_request_info",
]
