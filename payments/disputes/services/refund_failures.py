"""A refund Stripe refused: the dispute records it, the books undo it, staff may refund again."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Least
from django.utils import timezone

from payments.disputes.events import dispute_notify
from payments.disputes.services.core import action_record, dispute_lock, dispute_move
from payments.models import (
    DisputeAction,
    DisputeActionKind,
    DisputeParty,
    DisputeResolution,
    DisputeState,
    JobPayment,
    MoneyCommand,
)

REFUND_RESOLUTIONS = (DisputeResolution.FULL_REFUND, DisputeResolution.PARTIAL_REFUND)


def dispute_refund_failed(
    *, command: MoneyCommand, reason: str, refund: dict[str, Any] | None = None
) -> DisputeAction | None:
    """Record, once per refund command, that Stripe refused the refund it asked for.

    Without ``refund`` Stripe refused the call itself (``payments.outbox`` gave up on the
    command): nothing was booked. With ``refund`` (Stripe's refund object, ``status``
    ``failed``: it was made, then failed) the refund's entry is undone by another
    (``payments.flows.refund_failure_post``) and the job's refunded amount comes down to
    what the books hold. Either way the dispute gets a ``refund_failed`` action (no actor:
    Stripe) with the parts that did not go back and the refund's attempt, so the next
    refund is a new attempt; a dispute the refund had resolved goes back to
    ``under_review``. None for a command that is not a dispute's refund.

    Locks the job and the dispute (``dispute_lock``), then the job's payment, the order
    ``refund_recorded`` keeps too, so a refund recorded and failed at once counts once.
    """
    from payments.flows import job_charge_refunds_booked, refund_failure_post

    dispute_id = command.params.get("dispute_id")
    if not dispute_id:
        return None
    with transaction.atomic():
        locked = dispute_lock(dispute_id)
        key = f"dispute:{locked.pk}:refund_failed:{command.pk}"
        done = DisputeAction.objects.filter(idempotency_key=key).first()
        if done is not None:
            return done
        payment = JobPayment.objects.select_for_update().filter(job_id=locked.job_id).first()
        entry = None
        if refund is not None:
            entry = refund_failure_post(refund=refund, job_id=locked.job_id)
            if payment is not None:
                # Counted by the command's result or by a charge.refunded seen before the
                # failure: either way no more than the books now hold stays counted.
                booked = job_charge_refunds_booked(job_id=locked.job_id)
                JobPayment.objects.filter(pk=payment.pk).update(
                    refunded_minor=Least(F("refunded_minor"), Value(booked)),
                    updated_at=timezone.now(),
                )
        parts = command.params.get("parts") or {}
        from_state = locked.state
        if locked.state == DisputeState.RESOLVED and locked.resolution in REFUND_RESOLUTIONS:
            dispute_move(locked, DisputeState.UNDER_REVIEW, resolution="", resolved_at=None)
        else:
            dispute_move(locked, locked.state)
        action = action_record(
            dispute=locked,
            actor=None,
            kind=DisputeActionKind.REFUND_FAILED,
            from_state=from_state,
            key=key,
            party=DisputeParty.STRIPE,
            refund_value_minor=int(parts.get("value_minor", 0)),
            refund_fee_minor=int(parts.get("fee_minor", 0)),
            refund_tip_minor=int(parts.get("tip_minor", 0)),
            amount_minor=command.amount_minor,
            note=reason[:2000],
            journal_entry=entry,
            money_command=command,
            attempt=int(command.params.get("attempt", 1)),
        )
        dispute_notify(dispute=locked, event="dispute.refund_failed")
    return action
