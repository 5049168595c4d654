"""The payment errors the API shows (402 for the shop's card, 409 for illegal money moves)."""

from __future__ import annotations

from rest_framework import status

from marketplace.api.errors import ApplicationError, ConflictError


class PaymentRequired(ApplicationError):
    status_code = status.HTTP_402_PAYMENT_REQUIRED


class PaymentMethodRequired(PaymentRequired):
    code = "payment_method_required"
    default_message = "Add a payment method (PUT /api/v1/payments/shop/payment-method/) first."


class PaymentDeclinedError(PaymentRequired):
    code = "payment_declined"
    default_message = "The card was declined."


class PaymentAuthenticationRequired(PaymentRequired):
    code = "payment_authentication_required"
    default_message = "The card needs the cardholder's authentication; use another card."


class PaymentUnavailable(ApplicationError):
    code = "payment_unavailable"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_message = "The payment provider did not answer; try again."


class PaymentConflict(ConflictError):
    code = "payment_conflict"
    default_message = "This payment request does not match an earlier one with the same key."


class TipNotAllowed(ConflictError):
    code = "tip_not_allowed"
    default_message = "Tips are for delivered jobs, once, within the tip window."


class InvalidPaymentMethod(ApplicationError):
    code = "invalid_payment_method"
    default_message = "Stripe did not accept this payment method."


class TipTooSmall(ApplicationError):
    code = "validation_error"
    default_message = "The tip is below Stripe's smallest charge."
