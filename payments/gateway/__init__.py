"""The payment gateway: the one interface the money flows call, and Stripe behind it.

``payments.gateway.stripe_gateway`` is the only module that imports ``stripe``.
"""

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
    FileResult,
    IntentResult,
    RefundResult,
    ReversalResult,
    SetupIntentResult,
    TransferResult,
)
from payments.gateway.stripe_gateway import StripeGateway, get_gateway

__all__ = [
    "AccountResult",
    "AuthenticationRequired",
    "BalanceTransaction",
    "Card",
    "DisputeResult",
    "FileResult",
    "GatewayError",
    "GatewayUnavailable",
    "IdempotencyMismatch",
    "IntentResult",
    "PaymentDeclined",
    "PaymentGateway",
    "RefundResult",
    "ReversalResult",
    "SetupIntentResult",
    "SignatureError",
    "StripeGateway",
    "TransferResult",
    "get_gateway",
]
