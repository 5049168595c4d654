"""What each executed money command records: payment and transfer rows, ledger entries."""

from __future__ import annotations

from typing import Any

from django.db.models.functions import Greatest
from django.utils import timezone

from payments.flows.moves import P
from payments.flows.transfers import transfer_owe
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
    EntryKind,
    JobPayment,
    JournalEntry,
    JournalLine,
    MoneyCommand,
    Transfer,
    TransferState,
)

CLEARING = "stripe_clearing"


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


def job_charge_refunds_booked(*, job_id: Any) -> int:
    """What the ledger holds as refunded on the job's own charge: its refund entries, less
    the refunds that failed and those made on the separate tip charge."""
    from django.db.models import Sum

    failed = JournalEntry.objects.filter(job_id=job_id, kind=EntryKind.REFUND_FAILURE).values(
        "reference"
    )
    on_tip = MoneyCommand.objects.filter(
        job_id=job_id, kind=CommandKind.REFUND, params__charge="tip"
    ).values_list("result__id", flat=True)
    total = (
        JournalLine.objects.filter(
            account__code="refunds", entry__job_id=job_id, entry__kind=EntryKind.REFUND
        )
        .exclude(entry__reference__in=failed)
        .exclude(entry__reference__in=[ref for ref in on_tip if ref])
        .aggregate(total=Sum("amount_minor"))["total"]
    )
    return int(total or 0)


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
