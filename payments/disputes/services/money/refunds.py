"""Refunds on a dispute: what is left to refund per part, and the refund commands."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Sum

from marketplace.models import User
from payments.disputes import permissions as perms
from payments.disputes.events import dispute_notify
from payments.disputes.selectors import (
    Parts,
    job_charges,
    job_refunded_parts,
    refund_attempts,
    refused_refund_command_ids,
)
from payments.disputes.services.core import (
    _check_amount,
    _check_key,
    _check_text,
    action_record,
    action_replay,
    dispute_lock,
    require,
)
from payments.disputes.services.errors import (
    DisputeAmountError,
    DisputeInvalidInput,
    DisputeOverSupportLimit,
    DisputeStateError,
)
from payments.disputes.services.money.common import K, _refusable, _settle
from payments.models import (
    CommandKind,
    CommandState,
    Dispute,
    DisputeAction,
    DisputeResolution,
    JobPayment,
    MoneyCommand,
    PaymentStatus,
    Tip,
    TipStatus,
)
from payments.outbox import command_enqueue


def _queued_refunds(job_id: Any, charge: str) -> int:
    """What the job's refund commands on ``charge`` take back, less those Stripe refused."""
    total = (
        MoneyCommand.objects.filter(job_id=job_id, kind=CommandKind.REFUND, params__charge=charge)
        .exclude(state=CommandState.FAILED)
        .exclude(pk__in=refused_refund_command_ids(job_id=job_id))
        .aggregate(total=Sum("amount_minor"))["total"]
    )
    return int(total or 0)


def refundable_parts(*, dispute: Dispute) -> Parts:
    """What may still be refunded on the dispute's job, per part (after every dispute's
    refunds): the fee and tip charged, the parcel value up to the declared value, and
    never more than the charges have left."""
    job = dispute.job
    charges = job_charges(job=job)
    refunded = job_refunded_parts(job_id=job.pk)
    payment = JobPayment.objects.filter(job_id=job.pk).first()
    captured = payment.captured_minor if payment and payment.status == PaymentStatus.CAPTURED else 0
    job_room = max(captured - _queued_refunds(job.pk, "job"), 0)
    tip_room = max(charges.tip_charge_minor - _queued_refunds(job.pk, "tip"), 0)
    tip = min(max(charges.tip_minor - refunded.tip_minor, 0), tip_room + job_room)
    fee = min(max(charges.fee_minor - refunded.fee_minor, 0), job_room)
    value = min(max(job.package_value_minor - refunded.value_minor, 0), job_room)
    return Parts(value_minor=value, fee_minor=fee, tip_minor=tip)


def _refund(
    *,
    dispute: Dispute | Any,
    actor: User,
    kind: str,
    parts: Parts | None,
    note: str,
    idempotency_key: str,
) -> DisputeAction:
    require(actor, perms.FULL_REFUND if kind == K.FULL_REFUND else perms.PARTIAL_REFUND)
    _check_key(idempotency_key)
    note = _check_text("note", note, required=False)
    with transaction.atomic():
        locked = dispute_lock(dispute)
        replay = action_replay(key=idempotency_key, dispute=locked, kind=kind)
        if replay is not None:
            return replay
        if locked.is_chargeback:
            raise DisputeStateError("A charge under chargeback cannot be refunded; Stripe decides.")
        _refusable(locked, kind)
        payment = JobPayment.objects.select_for_update().filter(job_id=locked.job_id).first()
        if payment is None or payment.status != PaymentStatus.CAPTURED or not payment.charge_id:
            raise DisputeStateError("Nothing has been charged for this job yet.")
        room = refundable_parts(dispute=locked)
        if parts is None:  # a full refund: everything charged that is left
            parts = Parts(value_minor=0, fee_minor=room.fee_minor, tip_minor=room.tip_minor)
        _check_refund(parts, room)
        limit = perms.refund_limit_minor(actor)
        if limit is not None and parts.total_minor > limit:
            raise DisputeOverSupportLimit(
                f"Support may refund at most {limit}; finance can make this refund.",
                fields={"amount": [f"At most {limit} for support."]},
            )
        attempt = refund_attempts(dispute=locked)[0] + 1
        commands = _refund_commands(locked, payment, parts, attempt=attempt)
        from_state = locked.state
        _settle(
            locked,
            DisputeResolution.FULL_REFUND
            if kind == K.FULL_REFUND
            else DisputeResolution.PARTIAL_REFUND,
        )
        action = action_record(
            dispute=locked,
            actor=actor,
            kind=kind,
            from_state=from_state,
            key=idempotency_key,
            party="staff",
            refund_value_minor=parts.value_minor,
            refund_fee_minor=parts.fee_minor,
            refund_tip_minor=parts.tip_minor,
            amount_minor=parts.total_minor,
            note=note,
            money_command=commands[0],
            attempt=attempt,
        )
        dispute_notify(dispute=locked, event="dispute.refunded", actor=actor)
    return action


def _check_refund(parts: Parts, room: Parts) -> None:
    if parts.total_minor <= 0:
        if room.total_minor <= 0:
            raise DisputeAmountError("Nothing is left to refund on this job.")
        raise DisputeInvalidInput(
            "A refund needs an amount above 0.", fields={"amount": ["More than 0 in total."]}
        )
    over = {
        name: [f"At most {limit}."]
        for name, asked, limit in (
            ("value_minor", parts.value_minor, room.value_minor),
            ("fee_minor", parts.fee_minor, room.fee_minor),
            ("tip_minor", parts.tip_minor, room.tip_minor),
        )
        if asked > limit
    }
    if over:
        raise DisputeAmountError(
            "The refund is more than what was charged and is left: "
            + ", ".join(f"{name} {messages[0].lower()}" for name, messages in over.items()),
            fields=over,
        )


def _refund_commands(
    dispute: Dispute, payment: JobPayment, parts: Parts, *, attempt: int
) -> list[MoneyCommand]:
    """One refund per charge: the tip goes back on the tip's own charge first (when the tip
    was given after delivery), everything else on the job's charge. Each command keeps the
    parts it carries (what goes back to the dispute's room if Stripe refuses it), and a
    later attempt has keys of its own, so Stripe makes a new refund."""
    tip_charge = Tip.objects.filter(job_id=dispute.job_id, status=TipStatus.SUCCEEDED).first()
    tip_room = (
        max(tip_charge.amount_minor - _queued_refunds(dispute.job_id, "tip"), 0)
        if tip_charge
        else 0
    )
    on_tip = min(parts.tip_minor, tip_room)
    on_job = parts.total_minor - on_tip
    if on_job > payment.captured_minor - _queued_refunds(dispute.job_id, "job"):
        raise DisputeAmountError(
            "The job's charge has not that much left to refund.", fields={"amount": ["Too much."]}
        )
    on_tip_parts = Parts(tip_minor=on_tip)
    on_job_parts = Parts(
        value_minor=parts.value_minor, fee_minor=parts.fee_minor, tip_minor=parts.tip_minor - on_tip
    )
    commands = []
    for charge, amount, intent_id, carried in (
        ("job", on_job, payment.intent_id, on_job_parts),
        ("tip", on_tip, tip_charge.intent_id if tip_charge else "", on_tip_parts),
    ):
        if amount:
            suffix = f":{attempt}" if attempt > 1 else ""
            commands.append(
                command_enqueue(
                    kind=CommandKind.REFUND,
                    idempotency_key=f"dispute:{dispute.pk}:refund:{charge}{suffix}",
                    job_id=dispute.job_id,
                    amount_minor=amount,
                    currency=dispute.currency,
                    params={
                        "dispute_id": str(dispute.pk),
                        "charge": charge,
                        "intent_id": intent_id,
                        "attempt": attempt,
                        "parts": carried.as_dict(),
                    },
                )
            )
    return commands


def dispute_refund(
    *,
    dispute: Dispute | Any,
    actor: User,
    value_minor: int,
    fee_minor: int,
    tip_minor: int,
    note: str,
    idempotency_key: str,
) -> DisputeAction:
    """Refund part of what the shop paid, split by part (support up to its limit, finance).

    Each part is at most what was charged for it less earlier refunds (the parcel value at
    most the declared value), and all of it at most what the charges have left."""
    parts = Parts(
        value_minor=_check_amount("value_minor", value_minor),
        fee_minor=_check_amount("fee_minor", fee_minor),
        tip_minor=_check_amount("tip_minor", tip_minor),
    )
    return _refund(
        dispute=dispute,
        actor=actor,
        kind=K.PARTIAL_REFUND,
        parts=parts,
        note=note,
        idempotency_key=idempotency_key,
    )


def dispute_full_refund(
    *, dispute: Dispute | Any, actor: User, note: str, idempotency_key: str
) -> DisputeAction:
    """Refund everything the job charged (fee and tip) that is not refunded yet."""
    return _refund(
        dispute=dispute,
        actor=actor,
        kind=K.FULL_REFUND,
        parts=None,
        note=note,
        idempotency_key=idempotency_key,
    )
