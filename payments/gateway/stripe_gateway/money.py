"""StripeGateway's refunds, transfers, disputes and their evidence files, connected accounts."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import stripe

from payments.gateway.results import (
    AccountResult,
    DisputeResult,
    FileResult,
    RefundResult,
    ReversalResult,
    TransferResult,
    account_result,
    dispute_result,
    file_result,
    id_of,
    transfer_result,
)
from payments.gateway.stripe_gateway.calls import _call


class MoneyAndAccounts:
    client: stripe.StripeClient

    # -- refunds and transfers -----------------------------------------------------------

    def refund_create(
        self,
        *,
        payment_intent_id: str,
        amount_minor: int,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> RefundResult:
        refund = _call(
            lambda: self.client.v1.refunds.create(
                {"payment_intent": payment_intent_id, "amount": amount_minor, "metadata": metadata},
                {"idempotency_key": idempotency_key},
            )
        )
        return RefundResult(
            id=refund["id"],
            status=refund["status"],
            amount=refund["amount"],
            currency=refund["currency"],
            charge_id=id_of(refund["charge"]) or "",
            balance_transaction_id=id_of(refund.get("balance_transaction")),
        )

    def transfer_create(
        self,
        *,
        amount_minor: int,
        currency: str,
        destination: str,
        source_transaction: str | None,
        transfer_group: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> TransferResult:
        params: dict[str, Any] = {
            "amount": amount_minor,
            "currency": currency,
            "destination": destination,
            "transfer_group": transfer_group,
            "metadata": metadata,
        }
        if source_transaction:
            params["source_transaction"] = source_transaction
        transfer = _call(
            lambda: self.client.v1.transfers.create(params, {"idempotency_key": idempotency_key})
        )
        return transfer_result(transfer)

    def transfer_reversal_create(
        self,
        *,
        transfer_id: str,
        amount_minor: int,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> ReversalResult:
        reversal = _call(
            lambda: self.client.v1.transfers.reversals.create(
                transfer_id,
                {"amount": amount_minor, "metadata": metadata},
                {"idempotency_key": idempotency_key},
            )
        )
        return ReversalResult(
            id=reversal["id"],
            transfer_id=id_of(reversal["transfer"]) or transfer_id,
            amount=reversal["amount"],
            currency=reversal["currency"],
        )

    # -- disputes (chargebacks) ---------------------------------------------------------

    def dispute_retrieve(self, *, dispute_id: str) -> DisputeResult:
        return dispute_result(_call(lambda: self.client.v1.disputes.retrieve(dispute_id)))

    def dispute_submit_evidence(
        self,
        *,
        dispute_id: str,
        evidence: dict[str, str],
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> DisputeResult:
        """Send the evidence (text, and file ids from ``file_upload`` in the file fields) and
        submit it to the card holder's bank (``submit=true``); Stripe takes one submission,
        so the key makes a retried call the same one."""
        dispute = _call(
            lambda: self.client.v1.disputes.update(
                dispute_id,
                {"evidence": evidence, "metadata": metadata, "submit": True},
                {"idempotency_key": idempotency_key},
            )
        )
        return dispute_result(dispute)

    def disputes(self, *, created_gte: datetime | None = None) -> Iterator[DisputeResult]:
        for item in self._paged(self.client.v1.disputes, created_gte):
            yield dispute_result(item)

    def file_upload(
        self, *, purpose: str, filename: str, content: bytes, idempotency_key: str
    ) -> FileResult:
        """Upload a file (``POST /v1/files``, multipart, to the files base address:
        files.stripe.com, or ``api_base``); Stripe reads its type from its bytes. The key
        makes a retried upload answer with the file the first one made."""
        part = io.BytesIO(content)
        part.name = filename  # stripe-python names the file part after it
        uploaded = _call(
            lambda: self.client.v1.files.create(
                {"purpose": purpose, "file": part}, {"idempotency_key": idempotency_key}
            )
        )
        return file_result(uploaded)

    # -- connected accounts --------------------------------------------------------------

    def account_create(
        self, *, email: str, country: str, metadata: dict[str, str], idempotency_key: str
    ) -> AccountResult:
        """An Express account that can receive transfers."""
        account = _call(
            lambda: self.client.v1.accounts.create(
                {
                    "type": "express",
                    "country": country,
                    "email": email,
                    "capabilities": {
                        "card_payments": {"requested": True},
                        "transfers": {"requested": True},
                    },
                    "metadata": metadata,
                },
                {"idempotency_key": idempotency_key},
            )
        )
        return account_result(account)

    def account_retrieve(self, *, account_id: str) -> AccountResult:
        return account_result(_call(lambda: self.client.v1.accounts.retrieve(account_id)))

    def account_link_create(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        """A single-use onboarding URL for the account holder."""
        link = _call(
            lambda: self.client.v1.account_links.create(
                {
                    "account": account_id,
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                    "type": "account_onboarding",
                }
            )
        )
        return link["url"]
