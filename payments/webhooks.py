"""Stripe's webhooks: verify and store each event once, then handle it in a task.

Handlers are idempotent and order-independent: state is read back from Stripe (accounts)
or only moves forward (refunded and reversed amounts), and ledger entries are keyed by
the Stripe object they record (``refund:<id>``, ``reversal:<id>``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.functions import Greatest
from django.utils import timezone
from django_q.tasks import async_task
from rest_framework import status

from marketplace.api.errors import ApplicationError
from payments.errors import PaymentUnavailable
from payments.gateway import GatewayError, GatewayUnavailable, SignatureError, get_gateway
from payments.ledger import Line, courier_payable, ledger_post
from payments.models import (
    CommandKind,
    EntryKind,
    JobPayment,
    JournalEntry,
    MoneyCommand,
    StripeEvent,
    Transfer,
)
from payments.payouts import payout_account_sync

logger = logging.getLogger(__name__)

# Events stored but left to later work (disputes) or needing nothing from us.
# A chargeback's events: each one reads the dispute back from Stripe (any order, any count).
DISPUTE_EVENTS = frozenset(
    {
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
    }
)
# A refund's later changes (one object, whichever event says it): only a failure needs us.
REFUND_EVENTS = frozenset({"charge.refund.updated", "refund.updated", "refund.failed"})
STORED_ONLY = frozenset(
    {
        "payout.paid",
        "payout.failed",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
    }
)


class WebhookSignatureInvalid(ApplicationError):
    code = "invalid_signature"
    status_code = status.HTTP_400_BAD_REQUEST
    default_message = "The Stripe-Signature header is missing, wrong or too old."


def stripe_event_receive(
    *, payload: bytes, signature_header: str, connect: bool
) -> tuple[StripeEvent, bool]:
    """Verify and store one delivery; True if the event is new (its handling is queued)."""
    secret = settings.STRIPE_CONNECT_WEBHOOK_SECRET if connect else settings.STRIPE_WEBHOOK_SECRET
    if not secret or not signature_header:
        raise WebhookSignatureInvalid()
    try:
        event = get_gateway().event_from_webhook(
            payload=payload, signature_header=signature_header, secret=secret
        )
    except SignatureError as error:
        raise WebhookSignatureInvalid() from error
    except GatewayUnavailable as error:
        raise PaymentUnavailable() from error
    try:
        with transaction.atomic():
            stored = StripeEvent.objects.create(
                event_id=event["id"],
                type=event.get("type", ""),
                connect=connect,
                account_id=event.get("account") or "",
                payload=event,
            )
            transaction.on_commit(
                lambda: async_task("payments.tasks.stripe_event_task", stored.pk, group="payments")
            )
    except IntegrityError:
        return StripeEvent.objects.get(event_id=event["id"]), False
    return stored, True


def stripe_event_handle(*, pk: int) -> bool:
    """Apply event ``pk`` (any number of times, in any order); True once handled."""
    event = StripeEvent.objects.get(pk=pk)
    obj: dict[str, Any] = (event.payload.get("data") or {}).get("object") or {}
    try:
        if event.type == "account.updated":
            payout_account_sync(result=get_gateway().account_retrieve(account_id=obj["id"]))
        elif event.type == "charge.refunded":
            _charge_refunded(obj)
        elif event.type == "transfer.reversed":
            _transfer_reversed(obj)
        elif event.type in REFUND_EVENTS:
            _refund_changed(obj)
        elif event.type in DISPUTE_EVENTS:
            _dispute_changed(obj)
        elif event.type in {"payment_intent.canceled", "payment_intent.amount_capturable_updated"}:
            _intent_seen(obj)
        elif event.type not in STORED_ONLY:
            logger.info("stripe event %s (%s) needs nothing", event.event_id, event.type)
    except GatewayUnavailable as error:
        StripeEvent.objects.filter(pk=pk).update(processing_error=str(error)[:2000])
        raise
    StripeEvent.objects.filter(pk=pk).update(processed_at=timezone.now(), processing_error="")
    return True


def _dispute_changed(obj: dict[str, Any]) -> None:
    from payments.disputes.services import chargeback_sync

    try:
        chargeback_sync(stripe_dispute_id=obj["id"])
    except GatewayError as error:  # not a dispute Stripe knows (a forged or foreign event)
        logger.warning("dispute %s could not be read back: %s", obj.get("id"), error)


def _intent_seen(obj: dict[str, Any]) -> None:
    """Keep the hold's amount current (it only shrinks once the hold is cancelled)."""
    if obj.get("status") == "canceled":
        JobPayment.objects.filter(intent_id=obj["id"], status="cancelling").update(
            status="canceled", updated_at=timezone.now()
        )


def _charge_refunded(charge: dict[str, Any]) -> None:
    from payments.flows import job_charge_refunds_booked

    payment = JobPayment.objects.filter(charge_id=charge["id"]).first()
    refunds = ((charge.get("refunds") or {}).get("data")) or []
    with transaction.atomic():
        for refund in refunds:
            if refund.get("status") in {"failed", "canceled"}:
                continue
            amount, currency = int(refund["amount"]), refund["currency"]
            ledger_post(
                idempotency_key=f"refund:{refund['id']}",
                kind=EntryKind.REFUND,
                lines=[
                    Line("refunds", amount, currency),
                    Line("stripe_clearing", -amount, currency),
                ],
                job_id=payment.job_id if payment else None,
                reference=refund["id"],
            )
        if payment is not None:
            # The refunded amount only grows, but never past what the books hold once a
            # refund failed: an older snapshot may still count it.
            seen = int(charge.get("amount_refunded") or 0)
            if JournalEntry.objects.filter(
                job_id=payment.job_id, kind=EntryKind.REFUND_FAILURE
            ).exists():
                seen = min(seen, job_charge_refunds_booked(job_id=payment.job_id))
            JobPayment.objects.filter(pk=payment.pk).update(
                refunded_minor=Greatest("refunded_minor", seen), updated_at=timezone.now()
            )


def _refund_changed(refund: dict[str, Any]) -> None:
    """A refund that failed after Stripe made it: the dispute that asked for it records the
    failure (``dispute_refund_failed``); any other refund has its entry undone."""
    from payments.disputes.services import dispute_refund_failed
    from payments.flows import refund_failure_post

    if refund.get("status") != "failed":
        return
    command = _refund_command(refund)
    reason = f"Stripe failed refund {refund['id']}: {refund.get('failure_reason') or 'unknown'}"
    if command is not None and command.params.get("dispute_id"):
        dispute_refund_failed(command=command, reason=reason, refund=refund)
        return
    payment = JobPayment.objects.filter(charge_id=refund.get("charge") or "").first()
    with transaction.atomic():
        refund_failure_post(refund=refund, job_id=payment.job_id if payment else None)


def _refund_command(refund: dict[str, Any]) -> MoneyCommand | None:
    """Our refund command behind ``refund``: named in its metadata, or by its result."""
    pk = str((refund.get("metadata") or {}).get("money_command_id") or "")
    refunds = MoneyCommand.objects.filter(kind=CommandKind.REFUND)
    command = refunds.filter(pk=int(pk)).first() if pk.isdigit() else None
    return command or refunds.filter(result__id=refund["id"]).first()


def _transfer_reversed(obj: dict[str, Any]) -> None:
    transfer = Transfer.objects.filter(stripe_transfer_id=obj["id"]).first()
    if transfer is None:
        return
    reversals = ((obj.get("reversals") or {}).get("data")) or []
    with transaction.atomic():
        Transfer.objects.filter(pk=transfer.pk).update(
            amount_reversed_minor=Greatest(
                "amount_reversed_minor", int(obj.get("amount_reversed") or 0)
            ),
            updated_at=timezone.now(),
        )
        for reversal in reversals:
            amount, currency = int(reversal["amount"]), reversal["currency"]
            ledger_post(
                idempotency_key=f"reversal:{reversal['id']}",
                kind=EntryKind.REVERSAL,
                lines=[
                    Line("stripe_clearing", amount, currency),
                    Line(courier_payable(transfer.courier_id), -amount, currency),
                ],
                job_id=transfer.job_id,
                reference=reversal["id"],
            )
