"""What a job's moves mean for its money, and what each executed money command records.

``on_job_transitioned`` is the ``transitioned`` job hook: it runs inside the transaction
that moved the job and writes the money command the move calls for (delivered → capture
all, cancelled → cancel the hold or capture only the fee, returned → capture the zone's
return fee). ``command_apply`` runs once per command, in the transaction that marks it
succeeded: it updates the payment or transfer, posts the ledger entries, and writes the
transfer the courier is owed.

Ledger entries (debit +, credit -, each sums to zero):
  capture C        stripe_clearing +C, platform_revenue -(C - share), courier_payable:c -share
  Stripe fee F     stripe_fees +F, stripe_clearing -F
  transfer T       courier_payable:c +T, stripe_clearing -T
  refund R         refunds +R, stripe_clearing -R               (a dispute's refund)
  refund failed R  refunds -R, stripe_clearing +R               (Stripe failed it later)
  reversal V       stripe_clearing +V, courier_payable:c -V     (a courier adjustment)
"""

from __future__ import annotations

import logging
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Greatest
from django.utils import timezone

from jobs.models import Job, JobEvent, JobStatus
from marketplace.api.errors import ConflictError
from payments.authorisation import TO_AUTHORISE, cancel_key
from payments.gateway import (
    DisputeResult,
    IntentResult,
    RefundResult,
    ReversalResult,
    TransferResult,
)
from payments.ledger import Line, courier_payable, ledger_post
from payments.models import (
    CommandKind,
    CommandState,
    CourierPayoutAccount,
    EntryKind,
    JobPayment,
    MoneyCommand,
    PaymentStatus,
    Transfer,
    TransferKind,
    TransferState,
)
from payments.outbox import command_enqueue

logger = logging.getLogger(__name__)
P = PaymentStatus
CLEARING = "stripe_clearing"


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


def command_apply(*, command: MoneyCommand, result: Any) -> None:
    """Record what Stripe did for ``command`` (inside the caller's transaction)."""
    if command.kind == CommandKind.CAPTURE:
        _capture_recorded(command, result)
    elif command.kind == CommandKind.CANCEL_AUTHORISATION:
        # A hold released for re-authorising leaves its row awaiting: only a cancelling
        # row is done.
        JobPayment.objects.filter(job_id=command.job_id, status=P.CANCELLING).update(
            status=P.CANCELED, updated_at=timezone.now()
        )
    elif command.kind == CommandKind.TRANSFER:
        _transfer_recorded(command, result)
    elif command.kind == CommandKind.REFUND:
        refund_recorded(command=command, result=result)
    elif command.kind == CommandKind.TRANSFER_REVERSAL:
        reversal_recorded(command=command, result=result)
    elif command.kind == CommandKind.DISPUTE_EVIDENCE:
        _evidence_recorded(command, result)


def command_failed(*, command: MoneyCommand, error: str) -> None:
    """Stripe refused ``command`` for good: keep the fact where staff look for it (a
    dispute's refund: on the dispute, which may then refund again)."""
    if command.kind == CommandKind.TRANSFER:
        Transfer.objects.filter(pk=command.transfer_id).update(
            state=TransferState.FAILED, last_error=error[:2000], updated_at=timezone.now()
        )
    elif command.kind == CommandKind.REFUND and command.params.get("dispute_id"):
        from payments.disputes.services import dispute_refund_failed

        dispute_refund_failed(command=command, reason=error)


def _capture_recorded(command: MoneyCommand, result: IntentResult) -> None:
    params = command.params
    captured = result.amount_received
    share = min(int(params.get("courier_share_minor") or 0), captured)
    courier_id = params.get("courier_id")
    currency = result.currency
    JobPayment.objects.filter(job_id=command.job_id).update(
        status=P.CAPTURED,
        captured_minor=captured,
        charge_id=result.charge_id or "",
        updated_at=timezone.now(),
    )
    lines = [
        Line(CLEARING, captured, currency),
        Line("platform_revenue", -(captured - share), currency),
    ]
    if share:
        lines.append(Line(courier_payable(courier_id), -share, currency))
    ledger_post(
        idempotency_key=command.idempotency_key,
        kind=params.get("entry_kind", EntryKind.CAPTURE),
        lines=lines,
        job_id=command.job_id,
        reference=result.charge_id or result.id,
    )
    fee_post(
        key=command.idempotency_key,
        job_id=command.job_id,
        fee_minor=result.fee_minor,
        currency=currency,
        reference=result.balance_transaction_id or "",
    )
    if share:
        transfer_owe(
            job_id=command.job_id,
            courier_id=courier_id,
            kind=params["transfer_kind"],
            amount_minor=share,
            currency=currency,
            source_charge_id=result.charge_id or "",
        )


def fee_post(
    *, key: str, job_id: Any, fee_minor: int | None, currency: str, reference: str
) -> None:
    """The Stripe fee of a charge, as its own entry (the platform bears it)."""
    if fee_minor:
        ledger_post(
            idempotency_key=f"{key}:fee",
            kind=EntryKind.STRIPE_FEE,
            lines=[Line("stripe_fees", fee_minor, currency), Line(CLEARING, -fee_minor, currency)],
            job_id=job_id,
            reference=reference,
        )


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


def refund_entry_post(*, refund_id: str, amount: int, currency: str, job_id: Any) -> None:
    """The refund's entry: the same one ``charge.refunded`` posts (one key, whichever
    comes first)."""
    ledger_post(
        idempotency_key=f"refund:{refund_id}",
        kind=EntryKind.REFUND,
        lines=[Line("refunds", amount, currency), Line(CLEARING, -amount, currency)],
        job_id=job_id,
        reference=refund_id,
    )


def refund_failure_post(*, refund: dict[str, Any], job_id: Any) -> Any:
    """A refund Stripe made and then failed (its ``status`` is ``failed``): the refund's
    entry, posted if it was not yet, and the entry that undoes it (``refund:<id>:failed``),
    as Stripe gives the money back to the balance. Entries are never edited. The undoing
    entry."""
    amount, currency = int(refund["amount"]), refund["currency"]
    refund_entry_post(refund_id=refund["id"], amount=amount, currency=currency, job_id=job_id)
    entry, _ = ledger_post(
        idempotency_key=f"refund:{refund['id']}:failed",
        kind=EntryKind.REFUND_FAILURE,
        lines=[Line("refunds", -amount, currency), Line(CLEARING, amount, currency)],
        job_id=job_id,
        reference=refund["id"],
        description=f"refund failed: {refund.get('failure_reason') or 'no reason given'}",
    )
    return entry


def refund_recorded(*, command: MoneyCommand, result: RefundResult) -> None:
    """A dispute's refund went through: its entry, and the job's refunded amount (unless
    Stripe already said it failed; locks the payment, as ``dispute_refund_failed`` does)."""
    refund_entry_post(
        refund_id=result.id, amount=result.amount, currency=result.currency, job_id=command.job_id
    )
    if command.params.get("charge") != "job":
        return
    payment = JobPayment.objects.select_for_update().filter(job_id=command.job_id).first()
    refused = _refused_refund_commands(command.job_id)
    if payment is None or payment.charge_id != result.charge_id or command.pk in refused:
        return
    JobPayment.objects.filter(pk=payment.pk).update(
        refunded_minor=Greatest(
            "refunded_minor", _refunded_by_commands(command, refused) + result.amount
        ),
        updated_at=timezone.now(),
    )


def _refused_refund_commands(job_id: Any) -> set[int]:
    from payments.disputes.selectors import refused_refund_command_ids

    return refused_refund_command_ids(job_id=job_id)


def _refunded_by_commands(command: MoneyCommand, refused: set[int]) -> int:
    from django.db.models import Sum

    total = (
        MoneyCommand.objects.filter(
            job_id=command.job_id,
            kind=CommandKind.REFUND,
            params__charge="job",
            state=CommandState.SUCCEEDED,
        )
        .exclude(pk=command.pk)
        .exclude(pk__in=refused)
        .aggregate(total=Sum("amount_minor"))["total"]
    )
    return int(total or 0)


def reversal_recorded(*, command: MoneyCommand, result: ReversalResult) -> None:
    """A courier adjustment's reversal went through (the entry ``transfer.reversed``
    posts too, under the same key)."""
    transfer = Transfer.objects.select_for_update().get(pk=command.transfer_id)
    ledger_post(
        idempotency_key=f"reversal:{result.id}",
        kind=EntryKind.REVERSAL,
        lines=[
            Line(CLEARING, result.amount, result.currency),
            Line(courier_payable(transfer.courier_id), -result.amount, result.currency),
        ],
        job_id=transfer.job_id,
        reference=result.id,
    )
    Transfer.objects.filter(pk=transfer.pk).update(
        amount_reversed_minor=Greatest(
            "amount_reversed_minor", _reversed_by_commands(command) + result.amount
        ),
        updated_at=timezone.now(),
    )


def _reversed_by_commands(command: MoneyCommand) -> int:
    from django.db.models import Sum

    total = (
        MoneyCommand.objects.filter(
            transfer_id=command.transfer_id,
            kind=CommandKind.TRANSFER_REVERSAL,
            state=CommandState.SUCCEEDED,
        )
        .exclude(pk=command.pk)
        .aggregate(total=Sum("amount_minor"))["total"]
    )
    return int(total or 0)


def _evidence_recorded(command: MoneyCommand, result: DisputeResult) -> None:
    from payments.disputes.services.chargebacks import evidence_recorded

    evidence_recorded(dispute_id=command.params["dispute_id"], result=result)


def _transfer_recorded(command: MoneyCommand, result: TransferResult) -> None:
    transfer = Transfer.objects.select_for_update().get(pk=command.transfer_id)
    transfer.state = TransferState.PAID
    transfer.stripe_transfer_id = result.id
    transfer.last_error = ""
    transfer.save(update_fields=["state", "stripe_transfer_id", "last_error", "updated_at"])
    ledger_post(
        idempotency_key=command.idempotency_key,
        kind=EntryKind.TRANSFER,
        lines=[
            Line(courier_payable(transfer.courier_id), result.amount, result.currency),
            Line(CLEARING, -result.amount, result.currency),
        ],
        job_id=transfer.job_id,
        reference=result.id,
    )
