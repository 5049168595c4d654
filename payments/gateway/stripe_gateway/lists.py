"""StripeGateway's lists (reconciliation) and webhook events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import stripe

from payments.gateway.interface import (
    SignatureError,
)
from payments.gateway.results import (
    BalanceTransaction,
    TransferResult,
    balance_transaction_result,
    created_filter,
    id_of,
    transfer_result,
)
from payments.gateway.stripe_gateway.calls import _call

WEBHOOK_TOLERANCE_SECONDS = 300
LIST_PAGE_SIZE = 100


class ListsAndEvents:
    client: stripe.StripeClient

    # -- lists (reconciliation) ----------------------------------------------------------

    def _paged(self, service: Any, created_gte: datetime | None) -> Iterator[Any]:
        params = {"limit": LIST_PAGE_SIZE, **created_filter(created_gte)}
        page = _call(lambda: service.list(params))
        while True:
            yield from page["data"]
            if not page["has_more"] or not page["data"]:
                return
            following = {**params, "starting_after": page["data"][-1]["id"]}
            page = _call(lambda following=following: service.list(following))

    def balance_transactions(
        self, *, created_gte: datetime | None = None
    ) -> Iterator[BalanceTransaction]:
        for item in self._paged(self.client.v1.balance_transactions, created_gte):
            yield balance_transaction_result(item)

    def charges(self, *, created_gte: datetime | None = None) -> Iterator[dict[str, Any]]:
        """id, amount, amount_captured, amount_refunded, currency, payment_intent, ..."""
        for item in self._paged(self.client.v1.charges, created_gte):
            yield {
                "id": item["id"],
                "amount": item["amount"],
                "amount_captured": item["amount_captured"],
                "amount_refunded": item["amount_refunded"],
                "captured": bool(item["captured"]),
                "currency": item["currency"],
                "status": item["status"],
                "payment_intent": id_of(item.get("payment_intent")),
                "transfer_group": item.get("transfer_group"),
                "balance_transaction": id_of(item.get("balance_transaction")),
                "metadata": dict(item.get("metadata") or {}),
                "created": datetime.fromtimestamp(item["created"], tz=UTC),
            }

    def transfers(self, *, created_gte: datetime | None = None) -> Iterator[TransferResult]:
        for item in self._paged(self.client.v1.transfers, created_gte):
            yield transfer_result(item)

    # -- webhooks ------------------------------------------------------------------------

    def event_from_webhook(
        self, *, payload: bytes, signature_header: str, secret: str
    ) -> dict[str, Any]:
        """The verified event as plain JSON data; ``SignatureError`` when it can't be trusted."""
        try:
            stripe.WebhookSignature.verify_header(
                payload, signature_header, secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError as exc:
            raise SignatureError(str(exc)) from exc
        except UnicodeDecodeError as exc:
            # stripe-python decodes the body before it looks at the signature.
            raise SignatureError(f"the payload is not UTF-8 text: {exc.reason}") from exc
        try:
            event = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SignatureError(f"the signed payload is not JSON: {exc}") from exc
        if not isinstance(event, dict) or "id" not in event or "type" not in event:
            raise SignatureError("the signed payload is not a Stripe event")
        return event
