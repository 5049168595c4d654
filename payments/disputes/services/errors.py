"""The errors dispute services raise (all ApplicationErrors, rendered by the one handler)."""

from __future__ import annotations

from rest_framework import status

from marketplace.api.errors import ApplicationError, ConflictError, NotFoundError


class DisputePermissionDenied(ApplicationError):
    code = "permission_denied"
    status_code = status.HTTP_403_FORBIDDEN
    default_message = "You may not take this action on disputes."


class DisputeNotFound(NotFoundError):
    default_message = "No such dispute."


class DisputeStateError(ConflictError):
    code = "invalid_dispute_state"
    default_message = "The dispute's current state does not allow this."


class DisputeNotAllowed(ConflictError):
    code = "dispute_not_allowed"
    default_message = "A dispute cannot be opened on this job now."


class DisputeAlreadyOpen(ConflictError):
    code = "dispute_already_open"
    default_message = "You already have an open dispute on this job."


class IdempotencyKeyReused(ConflictError):
    code = "idempotency_key_reused"
    default_message = "This idempotency key was used for another action."


class DisputeAmountError(ApplicationError):
    code = "amount_exceeds_charge"
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_message = "The amount is more than what was charged."


class DisputeOverSupportLimit(DisputeAmountError):
    code = "over_support_limit"
    default_message = "This refund is above the support group's limit; finance must make it."


class DisputeInvalidInput(ApplicationError):
    code = "validation_error"
    default_message = "Invalid input."
