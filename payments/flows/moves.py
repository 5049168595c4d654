"""What a job's move means for its money: the money command each move writes."""

from __future__ import annotations

import logging
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from jobs.models import Job, JobEvent, JobStatus
from marketplace.api.errors import ConflictError
from payments.authorisation import TO_AUTHORISE, cancel_key
from payments.models import (
    CommandKind,
    EntryKind,
    JobPayment,
    PaymentStatus,
    TransferKind,
)
from payments.outbox import command_enqueue

logger = logging.getLogger(__name__)


P = PaymentStatus


def percent_of(amount: int, percent: Decimal | int) -> int:
    """``percent`` % of ``amount`` minor units, rounded half up."""
    value = Decimal(amount) * Decimal(percent) / Decimal(100)
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


class PaymentNotHeld(ConflictError):
    code = "payment_not_held"
    default_message = "The card hold for this job was released meanwhile; try again."


def on_job_transitioned(*, job: Job, event: JobEvent) -> None:
    """Write the money command for a job's move (the caller holds the job's row lock).

    A move to ``pending`` (dispatch) is refused while the job has no hold (the sweeper
    released it after the ``release`` hook had looked): the job then stays where it was,
    and the next try authorises first.
    """
    to = JobStatus(event.to_status)
    if to not in {JobStatus.DELIVERED, JobStatus.CANCELLED, JobStatus.RETURNED, JobStatus.PENDING}:
        return
    payment = JobPayment.objects.select_for_update().filter(job_id=job.pk).first()
    if payment is None:
        return  # a job from before payments, or one created outside the posting service
    if to == JobStatus.PENDING:
        if payment.status in TO_AUTHORISE:
            raise PaymentNotHeld()
        return
    if payment.status in TO_AUTHORISE:
        # Nothing is held (never yet, released by the sweeper, or refused).
        if payment.status == P.AWAITING_AUTHORISATION:
            payment.status = P.CANCELED
            payment.save(update_fields=["status", "updated_at"])
        return
    if payment.status != P.AUTHORISED:
        logger.warning("job %s became %s with its payment %s", job.pk, to, payment.status)
        return
    if to == JobStatus.DELIVERED:
        share = job.courier_payout_minor + job.tip_minor
        _capture(
            job,
            payment,
            amount=job.total_minor + job.tip_minor,
            share=share,
            entry_kind=EntryKind.CAPTURE,
            transfer_kind=TransferKind.PAYOUT,
        )
    elif to == JobStatus.CANCELLED and job.cancellation_fee_charged_minor > 0:
        fee = job.cancellation_fee_charged_minor
        share = (
            percent_of(fee, settings.CANCELLATION_COURIER_SHARE_PERCENT) if job.courier_id else 0
        )
        _capture(
            job,
            payment,
            amount=fee,
            share=share,
            entry_kind=EntryKind.CANCELLATION_FEE,
            transfer_kind=TransferKind.CANCELLATION_SHARE,
        )
    elif to == JobStatus.RETURNED:
        percent = job.zone.return_fee_percent
        amount = percent_of(job.total_minor, percent)
        share = min(percent_of(job.courier_payout_minor, percent), amount)
        if amount == 0:
            _cancel(job, payment)
        else:
            _capture(
                job,
                payment,
                amount=amount,
                share=share,
                entry_kind=EntryKind.RETURN_FEE,
                transfer_kind=TransferKind.RETURN_SHARE,
            )
    else:
        _cancel(job, payment)


def _capture(
    job: Job, payment: JobPayment, *, amount: int, share: int, entry_kind: str, transfer_kind: str
) -> None:
    payment.status = P.CAPTURING
    payment.save(update_fields=["status", "updated_at"])
    command_enqueue(
        kind=CommandKind.CAPTURE,
        idempotency_key=f"job:{job.pk}:capture",
        job_id=job.pk,
        amount_minor=amount,
        currency=payment.currency,
        params={
            "courier_id": job.courier_id,
            "courier_share_minor": share,
            "entry_kind": entry_kind,
            "transfer_kind": transfer_kind,
        },
    )


def _cancel(job: Job, payment: JobPayment) -> None:
    payment.status = P.CANCELLING
    payment.save(update_fields=["status", "updated_at"])
    hold_cancel_enqueue(payment)


def hold_cancel_enqueue(payment: JobPayment) -> None:
    """The money command that cancels ``payment``'s current hold (its intent and round
    named in the command, so a later round's hold is never the one cancelled)."""
    command_enqueue(
        kind=CommandKind.CANCEL_AUTHORISATION,
        idempotency_key=cancel_key(payment.job_id, payment.authorisation_round),
        job_id=payment.job_id,
        currency=payment.currency,
        params={"intent_id": payment.intent_id},
    )
