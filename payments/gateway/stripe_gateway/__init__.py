"""StripeGateway: the PaymentGateway on ``stripe.StripeClient``, the only code importing ``stripe``.

Every write takes an idempotency key derived from our own row, so a retried command can
never move money twice. Network failures and Stripe's 5xx/429 answers raise
``GatewayUnavailable`` (retry later); every other refusal raises a ``GatewayError``.
"""

from payments.gateway.stripe_gateway.cards import INTENT_EXPAND, CardsAndIntents
from payments.gateway.stripe_gateway.client import StripeGateway, get_gateway
from payments.gateway.stripe_gateway.lists import (
    LIST_PAGE_SIZE,
    WEBHOOK_TOLERANCE_SECONDS,
    ListsAndEvents,
)
from payments.gateway.stripe_gateway.money import MoneyAndAccounts

__all__ = [
    "INTENT_EXPAND",
    "LIST_PAGE_SIZE",
    "WEBHOOK_TOLERANCE_SECONDS",
    "CardsAndIntents",
    "ListsAndEvents",
    "MoneyAndAccounts",
    "StripeGateway",
    "get_gateway",
]
