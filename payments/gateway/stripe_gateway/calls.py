"""Stripe requests as plain data, and Stripe's errors as ours (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import stripe

from payments.gateway.interface import (
    AuthenticationRequired,
    GatewayError,
    GatewayUnavailable,
    IdempotencyMismatch,
    PaymentDeclined,
)
from payments.gateway.results import (
    id_of,
)


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
