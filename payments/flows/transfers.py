"""What a courier is owed for a job: the transfer rows, sending them, holding them back."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from payments.models import (
    CommandKind,
    CourierPayoutAccount,
    Transfer,
    TransferKind,
    TransferState,
)
from payments.outbox import command_enqueue


def transfer_owe(
    *,
    job_id: Any,
    courier_id: int,
    kind: str,
    amount_minor: int,
    currency: str,
    source_charge_id: str,
) -> Transfer:
    """Record what the courier is owed for a job; transfer it now if they can be paid."""
    from payments.disputes.selectors import job_has_open_chargeback

    fields = {
        "courier_id": courier_id,
        "amount_minor": amount_minor,
        "currency": currency,
        "source_charge_id": source_charge_id,
        "state": TransferState.HELD,
        # Earnings owed while the job's charge is under chargeback wait for its outcome.
        "is_frozen": job_has_open_chargeback(job_id=job_id),
    }
    if kind == TransferKind.COMPENSATION:  # one per dispute: the caller's row lock orders it
        transfer = Transfer.objects.create(job_id=job_id, kind=kind, **fields)
    else:
        transfer, _ = Transfer.objects.get_or_create(job_id=job_id, kind=kind, defaults=fields)
    account = CourierPayoutAccount.objects.filter(courier_id=courier_id).first()
    if (
        transfer.state == TransferState.HELD
        and not transfer.is_frozen
        and account is not None
        and account.payouts_enabled
    ):
        _transfer_start(transfer)
    return transfer


def _transfer_start(transfer: Transfer) -> None:
    Transfer.objects.filter(pk=transfer.pk).update(
        state=TransferState.PENDING, updated_at=timezone.now()
    )
    transfer.state = TransferState.PENDING
    key = (
        f"transfer:{transfer.pk}"
        if transfer.kind == TransferKind.COMPENSATION
        else f"job:{transfer.job_id}:transfer:{transfer.kind}"
    )
    command_enqueue(
        kind=CommandKind.TRANSFER,
        idempotency_key=key,
        job_id=transfer.job_id,
        amount_minor=transfer.amount_minor,
        currency=transfer.currency,
        transfer=transfer,
    )


def payouts_release(*, courier_id: int) -> int:
    """Payouts became possible: transfer everything held for the courier. How many."""
    with transaction.atomic():
        held = list(
            Transfer.objects.select_for_update()
            .filter(courier_id=courier_id, state=TransferState.HELD, is_frozen=False)
            .order_by("created_at")
        )
        for transfer in held:
            _transfer_start(transfer)
    return len(held)


def transfers_unfreeze(*, job_id: Any) -> int:
    """The job's chargebacks are closed: its frozen earnings are owed as usual again (sent
    now when the courier can be paid). How many were unfrozen. Inside the caller's
    transaction."""
    frozen = list(
        Transfer.objects.select_for_update()
        .filter(job_id=job_id, state=TransferState.HELD, is_frozen=True)
        .order_by("created_at")
    )
    for transfer in frozen:
        Transfer.objects.filter(pk=transfer.pk).update(is_frozen=False, updated_at=timezone.now())
        transfer.is_frozen = False
        account = CourierPayoutAccount.objects.filter(courier_id=transfer.courier_id).first()
        if account is not None and account.payouts_enabled:
            _transfer_start(transfer)
    return len(frozen)
