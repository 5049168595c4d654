"""StripeGateway's customers, cards and payment intents."""

from __future__ import annotations

import stripe

from payments.gateway.results import (
    Card,
    IntentResult,
    SetupIntentResult,
    checked_intent,
    intent_result,
)
from payments.gateway.stripe_gateway.calls import _call

# The latest charge and its balance transaction carry capture_before and the fee.
INTENT_EXPAND = ["latest_charge.balance_transaction"]


class CardsAndIntents:
    client: stripe.StripeClient

    # -- customers and cards -------------------------------------------------------------

    def customer_create(self, *, email: str, metadata: dict[str, str], idempotency_key: str) -> str:
        customer = _call(
            lambda: self.client.v1.customers.create(
                {"email": email, "metadata": metadata},
                {"idempotency_key": idempotency_key},
            )
        )
        return customer["id"]

    def setup_intent_create(self, *, customer_id: str, idempotency_key: str) -> SetupIntentResult:
        intent = _call(
            lambda: self.client.v1.setup_intents.create(
                {"customer": customer_id, "usage": "off_session", "payment_method_types": ["card"]},
                {"idempotency_key": idempotency_key},
            )
        )
        return SetupIntentResult(
            id=intent["id"], client_secret=intent["client_secret"], customer_id=customer_id
        )

    def payment_method_attach(self, *, customer_id: str, payment_method_id: str) -> Card:
        """Attach the card and make it the customer's default for invoices and off-session use."""
        method = _call(
            lambda: self.client.v1.payment_methods.attach(
                payment_method_id, {"customer": customer_id}
            )
        )
        _call(
            lambda: self.client.v1.customers.update(
                customer_id, {"invoice_settings": {"default_payment_method": method["id"]}}
            )
        )
        card = method["card"]
        return Card(
            payment_method_id=method["id"],
            brand=card["brand"],
            last4=card["last4"],
            exp_month=card["exp_month"],
            exp_year=card["exp_year"],
        )

    def payment_method_detach(self, *, payment_method_id: str) -> None:
        _call(lambda: self.client.v1.payment_methods.detach(payment_method_id))

    # -- payment intents -----------------------------------------------------------------

    def _intent_create(
        self,
        *,
        capture_method: str,
        amount_minor: int,
        currency: str,
        customer_id: str,
        payment_method_id: str,
        transfer_group: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> IntentResult:
        intent = _call(
            lambda: self.client.v1.payment_intents.create(
                {
                    "amount": amount_minor,
                    "currency": currency,
                    "customer": customer_id,
                    "payment_method": payment_method_id,
                    "payment_method_types": ["card"],
                    "capture_method": capture_method,
                    "confirm": True,
                    "off_session": True,
                    "transfer_group": transfer_group,
                    "metadata": metadata,
                    "expand": INTENT_EXPAND,
                },
                {"idempotency_key": idempotency_key},
            )
        )
        return checked_intent(intent)

    def payment_intent_authorise(
        self,
        *,
        amount_minor: int,
        currency: str,
        customer_id: str,
        payment_method_id: str,
        transfer_group: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> IntentResult:
        """Hold the amount on the card (manual capture, confirmed off session)."""
        return self._intent_create(
            capture_method="manual",
            amount_minor=amount_minor,
            currency=currency,
            customer_id=customer_id,
            payment_method_id=payment_method_id,
            transfer_group=transfer_group,
            metadata=metadata,
            idempotency_key=idempotency_key,
        )

    def payment_intent_charge(
        self,
        *,
        amount_minor: int,
        currency: str,
        customer_id: str,
        payment_method_id: str,
        transfer_group: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> IntentResult:
        """Charge at once (automatic capture, confirmed off session), e.g. a tip."""
        return self._intent_create(
            capture_method="automatic",
            amount_minor=amount_minor,
            currency=currency,
            customer_id=customer_id,
            payment_method_id=payment_method_id,
            transfer_group=transfer_group,
            metadata=metadata,
            idempotency_key=idempotency_key,
        )

    def payment_intent_capture(
        self, *, intent_id: str, amount_to_capture: int, idempotency_key: str
    ) -> IntentResult:
        """Capture part or all of a hold; Stripe releases the rest."""
        intent = _call(
            lambda: self.client.v1.payment_intents.capture(
                intent_id,
                {"amount_to_capture": amount_to_capture, "expand": INTENT_EXPAND},
                {"idempotency_key": idempotency_key},
            )
        )
        return intent_result(intent)

    def payment_intent_cancel(self, *, intent_id: str, idempotency_key: str) -> IntentResult:
        intent = _call(
            lambda: self.client.v1.payment_intents.cancel(
                intent_id, {"expand": INTENT_EXPAND}, {"idempotency_key": idempotency_key}
            )
        )
        return intent_result(intent)

    def payment_intent_retrieve(self, *, intent_id: str) -> IntentResult:
        intent = _call(
            lambda: self.client.v1.payment_intents.retrieve(intent_id, {"expand": INTENT_EXPAND})
        )
        return intent_result(intent)
