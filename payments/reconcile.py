"""Reconciliation: our ledger and payment rows against what Stripe says happened.

Checks (each difference names its job where there is one):
- every Stripe charge we made: captured and refunded amounts equal our rows and the
  ledger's entries for that charge; every charge we recorded exists at Stripe;
- every Stripe transfer: a transfer row of ours with the same amount, destination and
  reversed amount, and a ledger transfer entry; every transfer we recorded as paid exists
  at Stripe;
- every Stripe dispute (chargeback): our dispute with its outcome, and one ledger entry per
  balance transaction of the dispute with the same net amount;
- without ``since``: the ledger's stripe_clearing balance equals the sum of Stripe's
  balance transactions (net), stripe_fees equals their fees (a dispute's fee is booked to
  chargebacks instead), and chargebacks equals what the disputes' balance transactions
  took, per currency;
- commands still open or failed long after they were written (a dispute's refund Stripe
  refused is not: the dispute recorded it).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from payments.gateway import PaymentGateway, get_gateway
from payments.models import (
    CommandState,
    CourierPayoutAccount,
    Dispute,
    DisputeAction,
    DisputeActionKind,
    EntryKind,
    JobPayment,
    JournalLine,
    MoneyCommand,
    ReconciliationReport,
    Tip,
    Transfer,
    TransferState,
)

CHARGE_ENTRY_KINDS = (
    EntryKind.CAPTURE,
    EntryKind.CANCELLATION_FEE,
    EntryKind.RETURN_FEE,
    EntryKind.TIP,
)
STUCK_AFTER = timedelta(minutes=15)


@dataclass
class Reconciliation:
    differences: list[dict[str, Any]] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def differ(self, kind: str, *, job_id: Any = None, **facts: Any) -> None:
        self.differences.append({"kind": kind, "job_id": str(job_id) if job_id else None, **facts})


def _ledger_sum(*, account: str, kinds: tuple[str, ...], reference: str) -> int:
    total = JournalLine.objects.filter(
        account__code=account, entry__kind__in=kinds, entry__reference=reference
    ).aggregate(total=Sum("amount_minor"))["total"]
    return int(total or 0)


def reconcile(
    *, since: datetime | None = None, gateway: PaymentGateway | None = None
) -> Reconciliation:
    """Compare; nothing is written. ``since`` limits the Stripe objects compared."""
    gateway = gateway or get_gateway()
    report = Reconciliation()
    _charges(report, gateway, since)
    _transfers(report, gateway, since)
    dispute_txns = _disputes(report, gateway, since)
    if since is None:
        _balances(report, gateway, dispute_txns)
    _stuck(report)
    report.checked = dict(report.checked)
    return report


def _charges(report: Reconciliation, gateway: PaymentGateway, since: datetime | None) -> None:
    seen: set[str] = set()
    for charge in gateway.charges(created_gte=since):
        report.checked["charges"] += 1
        charge_id = charge["id"]
        seen.add(charge_id)
        job_id = (charge.get("metadata") or {}).get("job_id")
        captured = int(charge.get("amount_captured") or 0)
        refunded = int(charge.get("amount_refunded") or 0)
        payment = JobPayment.objects.filter(charge_id=charge_id).first()
        tip = Tip.objects.filter(charge_id=charge_id).first()
        if payment is None and tip is None:
            if captured:
                report.differ("charge_unknown", job_id=job_id, charge=charge_id, stripe=captured)
            continue
        ours = (
            payment.captured_minor
            if payment is not None
            else (tip.amount_minor if tip.status == "succeeded" else 0)
        )
        if ours != captured:
            report.differ(
                "charge_captured", job_id=job_id, charge=charge_id, stripe=captured, ours=ours
            )
        in_ledger = _ledger_sum(
            account="stripe_clearing", kinds=CHARGE_ENTRY_KINDS, reference=charge_id
        )
        if in_ledger != captured:
            report.differ(
                "charge_ledger", job_id=job_id, charge=charge_id, stripe=captured, ledger=in_ledger
            )
        if payment is not None and payment.refunded_minor != refunded:
            report.differ(
                "charge_refunded",
                job_id=job_id,
                charge=charge_id,
                stripe=refunded,
                ours=payment.refunded_minor,
            )
    recorded = JobPayment.objects.exclude(charge_id="").filter(captured_minor__gt=0)
    if since is not None:
        recorded = recorded.filter(updated_at__gte=since)
    for payment in recorded:
        if payment.charge_id not in seen:
            report.differ(
                "charge_missing",
                job_id=payment.job_id,
                charge=payment.charge_id,
                ours=payment.captured_minor,
            )


def _transfers(report: Reconciliation, gateway: PaymentGateway, since: datetime | None) -> None:
    seen: set[str] = set()
    destinations = dict(CourierPayoutAccount.objects.values_list("courier_id", "account_id"))
    for result in gateway.transfers(created_gte=since):
        report.checked["transfers"] += 1
        seen.add(result.id)
        job_id = (result.transfer_group or "").removeprefix("job_") or None
        ours = Transfer.objects.filter(stripe_transfer_id=result.id).first()
        if ours is None:
            report.differ(
                "transfer_unknown", job_id=job_id, transfer=result.id, stripe=result.amount
            )
            continue
        if ours.amount_minor != result.amount:
            report.differ(
                "transfer_amount",
                job_id=ours.job_id,
                transfer=result.id,
                stripe=result.amount,
                ours=ours.amount_minor,
            )
        if ours.amount_reversed_minor != result.amount_reversed:
            report.differ(
                "transfer_reversed",
                job_id=ours.job_id,
                transfer=result.id,
                stripe=result.amount_reversed,
                ours=ours.amount_reversed_minor,
            )
        if destinations.get(ours.courier_id) != result.destination:
            report.differ(
                "transfer_destination",
                job_id=ours.job_id,
                transfer=result.id,
                stripe=result.destination,
                ours=destinations.get(ours.courier_id),
            )
        in_ledger = -_ledger_sum(
            account="stripe_clearing", kinds=(EntryKind.TRANSFER,), reference=result.id
        )
        if in_ledger != result.amount:
            report.differ(
                "transfer_ledger",
                job_id=ours.job_id,
                transfer=result.id,
                stripe=result.amount,
                ledger=in_ledger,
            )
    paid = Transfer.objects.filter(state=TransferState.PAID)
    if since is not None:
        paid = paid.filter(updated_at__gte=since)
    for transfer in paid:
        if transfer.stripe_transfer_id not in seen:
            report.differ(
                "transfer_missing",
                job_id=transfer.job_id,
                transfer=transfer.stripe_transfer_id,
                ours=transfer.amount_minor,
            )


def _disputes(report: Reconciliation, gateway: PaymentGateway, since: datetime | None) -> set[str]:
    """Check each Stripe dispute against ours; the ids of the disputes' balance transactions."""
    txn_ids: set[str] = set()
    ours = {d.stripe_dispute_id: d for d in Dispute.objects.exclude(stripe_dispute_id=None)}
    for result in gateway.disputes(created_gte=since):
        report.checked["disputes"] += 1
        dispute = ours.get(result.id)
        if dispute is None:
            report.differ("dispute_unknown", dispute=result.id, charge=result.charge_id)
        elif result.status in {"won", "lost"} and dispute.stripe_outcome != result.status:
            report.differ(
                "dispute_outcome",
                job_id=dispute.job_id,
                dispute=result.id,
                stripe=result.status,
                ours=dispute.stripe_outcome or None,
            )
        for txn in result.balance_transactions:
            txn_ids.add(txn.id)
            in_ledger = _ledger_sum(
                account="stripe_clearing", kinds=(EntryKind.CHARGEBACK,), reference=txn.id
            )
            if in_ledger != txn.net:
                report.differ(
                    "dispute_ledger",
                    job_id=dispute.job_id if dispute else None,
                    dispute=result.id,
                    balance_transaction=txn.id,
                    stripe=txn.net,
                    ledger=in_ledger,
                )
    return txn_ids


def _balances(report: Reconciliation, gateway: PaymentGateway, dispute_txns: set[str]) -> None:
    net: dict[str, int] = defaultdict(int)
    fees: dict[str, int] = defaultdict(int)
    taken: dict[str, int] = defaultdict(int)
    for transaction in gateway.balance_transactions():
        report.checked["balance_transactions"] += 1
        net[transaction.currency] += transaction.net
        if transaction.id in dispute_txns:
            taken[transaction.currency] -= transaction.net
        else:
            fees[transaction.currency] += transaction.fee
    ledger = defaultdict(int)
    for row in (
        JournalLine.objects.filter(account__code__in=["stripe_clearing", "stripe_fees"])
        .values("account__code", "currency")
        .annotate(total=Sum("amount_minor"))
    ):
        ledger[(row["account__code"], row["currency"])] = row["total"]
    for currency in set(net) | {c for (_, c) in ledger}:
        if ledger[("stripe_clearing", currency)] != net[currency]:
            report.differ(
                "clearing_balance",
                currency=currency,
                stripe=net[currency],
                ledger=ledger[("stripe_clearing", currency)],
            )
        if ledger[("stripe_fees", currency)] != fees[currency]:
            report.differ(
                "stripe_fees",
                currency=currency,
                stripe=fees[currency],
                ledger=ledger[("stripe_fees", currency)],
            )
        # What Stripe took is booked by chargeback entries; courier adjustments on a
        # chargeback recover part of it from the courier, which Stripe never sees.
        booked = (
            JournalLine.objects.filter(
                account__code="chargebacks", currency=currency, entry__kind=EntryKind.CHARGEBACK
            ).aggregate(total=Sum("amount_minor"))["total"]
            or 0
        )
        ledger[("chargebacks", currency)] = booked
        if booked != taken[currency]:
            report.differ(
                "chargebacks",
                currency=currency,
                stripe=taken[currency],
                ledger=ledger[("chargebacks", currency)],
            )


def _stuck(report: Reconciliation) -> None:
    """Commands not done long after they were written. A dispute's refund Stripe refused
    is done with: the dispute recorded it (``refund_failed``) and may refund again."""
    old = timezone.now() - STUCK_AFTER
    settled = DisputeAction.objects.filter(
        kind=DisputeActionKind.REFUND_FAILED, money_command__isnull=False
    ).values("money_command_id")
    for command in MoneyCommand.objects.filter(
        state__in=[CommandState.PENDING, CommandState.RUNNING, CommandState.FAILED],
        created_at__lt=old,
    ).exclude(pk__in=settled):
        report.differ(
            "command_open",
            job_id=command.job_id,
            command=command.idempotency_key,
            state=command.state,
            error=command.last_error[:200],
        )


def reconcile_and_store(*, since: datetime | None = None) -> ReconciliationReport:
    result = reconcile(since=since)
    return ReconciliationReport.objects.create(
        since=since,
        difference_count=len(result.differences),
        differences=result.differences,
        checked=result.checked,
    )
