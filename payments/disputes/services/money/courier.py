"""The courier's side of a dispute: adjustments (claw-backs) and compensation."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from marketplace.models import User
from payments.disputes import permissions as perms
from payments.disputes.events import dispute_notify
from payments.disputes.services.core import (
    _check_key,
    _check_positive_amount,
    _check_text,
    action_record,
    action_replay,
    dispute_lock,
    require,
)
from payments.disputes.services.errors import (
    DisputeAmountError,
    DisputeStateError,
)
from payments.disputes.services.money.common import K, _refusable, _settle
from payments.ledger import Line, courier_payable, ledger_post
from payments.models import (
    CommandKind,
    CommandState,
    Dispute,
    DisputeAction,
    DisputeResolution,
    EntryKind,
    MoneyCommand,
    Transfer,
    TransferKind,
    TransferState,
)
from payments.outbox import command_enqueue

# Transfers a courier adjustment may take back: the job's earnings, not compensation.
EARNING_KINDS = (
    TransferKind.PAYOUT,
    TransferKind.TIP,
    TransferKind.CANCELLATION_SHARE,
    TransferKind.RETURN_SHARE,
)


def _reserved_reversals(transfer: Transfer) -> int:
    total = (
        MoneyCommand.objects.filter(kind=CommandKind.TRANSFER_REVERSAL, transfer=transfer)
        .exclude(state=CommandState.FAILED)
        .aggregate(total=Sum("amount_minor"))["total"]
    )
    return max(int(total or 0), transfer.amount_reversed_minor)


def adjustable_minor(*, dispute: Dispute) -> int:
    """How much a courier adjustment may take: what the courier is still owed for the job
    (held transfers) plus what was transferred and not reversed yet."""
    total = 0
    for transfer in Transfer.objects.filter(
        job_id=dispute.job_id, kind__in=EARNING_KINDS, courier_id=dispute.job.courier_id
    ):
        if transfer.state == TransferState.HELD:
            total += transfer.amount_minor
        elif transfer.state == TransferState.PAID:
            total += transfer.amount_minor - _reserved_reversals(transfer)
    return total


def dispute_courier_adjust(
    *, dispute: Dispute | Any, actor: User, amount_minor: int, note: str, idempotency_key: str
) -> DisputeAction:
    """Take ``amount_minor`` back from the job's courier (finance).

    Held earnings are reduced first (a transfer adjusted to nothing is cancelled); the
    rest reverses transfers already paid, at most what was transferred for the job. A
    transfer still on its way to Stripe is a 409: try again once it has landed. Locks the
    dispute, then the job's transfers.
    """
    require(actor, perms.COURIER_ADJUSTMENT)
    _check_key(idempotency_key)
    note = _check_text("note", note, required=False)
    amount = _check_positive_amount("amount_minor", amount_minor)
    with transaction.atomic():
        locked = dispute_lock(dispute)
        replay = action_replay(key=idempotency_key, dispute=locked, kind=K.COURIER_ADJUSTMENT)
        if replay is not None:
            return replay
        _refusable(locked, K.COURIER_ADJUSTMENT)
        courier_id = locked.job.courier_id
        if courier_id is None:
            raise DisputeStateError("The job has no courier.")
        transfers = list(
            Transfer.objects.select_for_update()
            .filter(job_id=locked.job_id, kind__in=EARNING_KINDS, courier_id=courier_id)
            .order_by("created_at", "pk")
        )
        if any(transfer.state == TransferState.PENDING for transfer in transfers):
            raise DisputeStateError("A transfer to the courier is on its way; try again shortly.")
        cap = adjustable_minor(dispute=locked)
        if amount > cap:
            raise DisputeAmountError(
                f"amount_minor: at most {cap} (what the courier was paid or is owed for the job).",
                fields={"amount_minor": [f"At most {cap}."]},
            )
        counter = "chargebacks" if locked.is_chargeback else "refunds"
        entry, _ = ledger_post(
            idempotency_key=f"dispute:{locked.pk}:adjustment",
            kind=EntryKind.ADJUSTMENT,
            lines=[
                Line(courier_payable(courier_id), amount, locked.currency),
                Line(counter, -amount, locked.currency),
            ],
            job_id=locked.job_id,
            reference=str(locked.pk),
            description=f"courier adjustment for dispute {locked.pk}",
        )
        first_command = _take_back(locked, transfers, amount)
        from_state = locked.state
        _settle(locked, DisputeResolution.COURIER_ADJUSTMENT)
        action = action_record(
            dispute=locked,
            actor=actor,
            kind=K.COURIER_ADJUSTMENT,
            from_state=from_state,
            key=idempotency_key,
            party="courier",
            amount_minor=amount,
            note=note,
            journal_entry=entry,
            money_command=first_command,
        )
        dispute_notify(dispute=locked, event="dispute.courier_adjusted", actor=actor)
    return action


def _take_back(dispute: Dispute, transfers: list[Transfer], amount: int) -> MoneyCommand | None:
    """Reduce held transfers, then reverse paid ones, until ``amount`` is taken."""
    left = amount
    now = timezone.now()
    for transfer in (t for t in transfers if t.state == TransferState.HELD):
        take = min(left, transfer.amount_minor)
        if take == transfer.amount_minor:
            Transfer.objects.filter(pk=transfer.pk).update(
                state=TransferState.CANCELLED, updated_at=now
            )
        elif take:
            Transfer.objects.filter(pk=transfer.pk).update(
                amount_minor=transfer.amount_minor - take, updated_at=now
            )
        left -= take
    first = None
    for transfer in (t for t in transfers if t.state == TransferState.PAID):
        take = min(left, transfer.amount_minor - _reserved_reversals(transfer))
        if take <= 0:
            continue
        command = command_enqueue(
            kind=CommandKind.TRANSFER_REVERSAL,
            idempotency_key=f"dispute:{dispute.pk}:reversal:{transfer.pk}",
            job_id=dispute.job_id,
            amount_minor=take,
            currency=transfer.currency,
            transfer=transfer,
            params={"dispute_id": str(dispute.pk)},
        )
        first = first or command
        left -= take
    if left:
        raise DisputeAmountError("The courier's earnings changed; try again.")
    return first


def dispute_courier_compensate(
    *, dispute: Dispute | Any, actor: User, amount_minor: int, note: str, idempotency_key: str
) -> DisputeAction:
    """Pay the courier ``amount_minor`` on top (finance): owed at once, transferred when
    their payouts are enabled (held back while a chargeback on the job is open)."""
    from payments.flows import transfer_owe

    require(actor, perms.COURIER_COMPENSATION)
    _check_key(idempotency_key)
    note = _check_text("note", note, required=False)
    amount = _check_positive_amount("amount_minor", amount_minor)
    with transaction.atomic():
        locked = dispute_lock(dispute)
        replay = action_replay(key=idempotency_key, dispute=locked, kind=K.COURIER_COMPENSATION)
        if replay is not None:
            return replay
        _refusable(locked, K.COURIER_COMPENSATION)
        courier_id = locked.job.courier_id
        if courier_id is None:
            raise DisputeStateError("The job has no courier.")
        entry, _ = ledger_post(
            idempotency_key=f"dispute:{locked.pk}:compensation",
            kind=EntryKind.COMPENSATION,
            lines=[
                Line("compensations", amount, locked.currency),
                Line(courier_payable(courier_id), -amount, locked.currency),
            ],
            job_id=locked.job_id,
            reference=str(locked.pk),
            description=f"courier compensation for dispute {locked.pk}",
        )
        transfer = transfer_owe(
            job_id=locked.job_id,
            courier_id=courier_id,
            kind=TransferKind.COMPENSATION,
            amount_minor=amount,
            currency=locked.currency,
            source_charge_id="",
        )
        command = MoneyCommand.objects.filter(transfer=transfer).first()
        from_state = locked.state
        _settle(locked, DisputeResolution.COURIER_COMPENSATION)
        action = action_record(
            dispute=locked,
            actor=actor,
            kind=K.COURIER_COMPENSATION,
            from_state=from_state,
            key=idempotency_key,
            party="courier",
            amount_minor=amount,
            note=note,
            journal_entry=entry,
            money_command=command,
        )
        dispute_notify(dispute=locked, event="dispute.courier_compensated", actor=actor)
    return action
