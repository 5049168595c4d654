"""StripeGateway built from its mixins, and the process's gateway from the settings."""

from __future__ import annotations

from functools import lru_cache

import stripe
from django.conf import settings

from payments.gateway.interface import (
    GatewayUnavailable,
    PaymentGateway,
)
from payments.gateway.stripe_gateway.cards import CardsAndIntents
from payments.gateway.stripe_gateway.lists import ListsAndEvents
from payments.gateway.stripe_gateway.money import MoneyAndAccounts


class StripeGateway(CardsAndIntents, MoneyAndAccounts, ListsAndEvents):
    """``PaymentGateway`` on ``stripe.StripeClient`` (api.stripe.com or ``api_base``)."""

    def __init__(self, *, api_key: str, api_base: str = "", timeout_seconds: float = 20.0) -> None:
        base_addresses: stripe.BaseAddresses = {}
        if api_base:
            base = api_base.rstrip("/")
            base_addresses = {"api": base, "connect": base, "files": base}
        self.client = stripe.StripeClient(
            api_key,
            base_addresses=base_addresses,
            # Our outbox retries with the same idempotency key; the library must not.
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=timeout_seconds),
        )


@lru_cache(maxsize=8)
def _gateway_for(api_key: str, api_base: str, timeout_seconds: float) -> StripeGateway:
    return StripeGateway(api_key=api_key, api_base=api_base, timeout_seconds=timeout_seconds)


def get_gateway() -> PaymentGateway:
    """The process's gateway, built from settings (a new one when those settings change)."""
    if not settings.STRIPE_SECRET_KEY:
        raise GatewayUnavailable(
            "STRIPE_SECRET_KEY is not set (./dev run starts the Stripe stand-in without one)"
        )
    return _gateway_for(
        settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE, settings.STRIPE_TIMEOUT_SECONDS
    )
