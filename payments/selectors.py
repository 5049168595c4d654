"""Reads over payments: ledger balances, a job's payment, a courier's earnings."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import Sum

from payments.models import EntryKind, JobPayment, JournalLine, Transfer, TransferKind


def account_balances(*, prefix: str = "") -> dict[tuple[str, str], int]:
    """Every account's balance per currency, as ``{(code, currency): minor}`` (debit +)."""
    rows = JournalLine.objects.all()
    if prefix:
        rows = rows.filter(account__code__startswith=prefix)
    totals = rows.values("account__code", "currency").annotate(total=Sum("amount_minor"))
    return {(row["account__code"], row["currency"]): row["total"] for row in totals}


def job_payment_outputs(*, job_pks: list[Any]) -> dict[Any, dict[str, Any]]:
    """The ``job_output`` hook: each job's ``payment`` block (one query for the page)."""
    payments = JobPayment.objects.filter(job_id__in=job_pks).values(
        "job_id", "status", "authorised_minor", "captured_minor", "refunded_minor", "currency"
    )
    return {
        row["job_id"]: {
            "payment": {
                "status": row["status"],
                "authorised_minor": row["authorised_minor"],
                "captured_minor": row["captured_minor"],
                "refunded_minor": row["refunded_minor"],
                "currency": row["currency"],
            }
        }
        for row in payments
    }


def courier_earnings(
    *, courier_id: int, date_from: date | None = None, date_to: date | None = None
) -> dict[str, Any]:
    """What the courier earned per job (from their payable account) in [from, to] (dates,
    inclusive), what is still owed, and what was transferred; amounts in minor units."""
    account = f"courier_payable:{courier_id}"
    lines = JournalLine.objects.filter(account__code=account).select_related("entry")
    if date_from is not None:
        lines = lines.filter(entry__created_at__date__gte=date_from)
    if date_to is not None:
        lines = lines.filter(entry__created_at__date__lte=date_to)
    transfers = Transfer.objects.filter(courier_id=courier_id)
    per_job: dict[Any, dict[str, Any]] = {}
    currencies: set[str] = set()
    for line in lines.order_by("entry__created_at", "pk"):
        job_id = line.entry.job_id
        currencies.add(line.currency)
        row = per_job.setdefault(
            job_id,
            {
                "job_id": job_id,
                "currency": line.currency,
                "earned_minor": 0,
                "transferred_minor": 0,
                "adjustments_minor": 0,
                "timeline": [],
            },
        )
        kind = line.entry.kind
        if kind == EntryKind.TRANSFER:
            row["transferred_minor"] += line.amount_minor
        elif kind in {EntryKind.REVERSAL, EntryKind.ADJUSTMENT}:
            row["adjustments_minor"] -= line.amount_minor
        else:
            row["earned_minor"] -= line.amount_minor
        row["timeline"].append(
            {"at": line.entry.created_at, "kind": kind, "amount_minor": -line.amount_minor}
        )
    by_job_transfers: dict[Any, list[Transfer]] = {}
    for transfer in transfers.filter(job_id__in=list(per_job)).order_by("created_at"):
        by_job_transfers.setdefault(transfer.job_id, []).append(transfer)
    jobs = []
    for job_id, row in per_job.items():
        parts = {kind: 0 for kind in TransferKind.values}
        for transfer in by_job_transfers.get(job_id, []):
            parts[transfer.kind] += transfer.amount_minor
        row["payout_minor"] = parts[TransferKind.PAYOUT]
        row["tip_minor"] = parts[TransferKind.TIP]
        row["fee_share_minor"] = (
            parts[TransferKind.CANCELLATION_SHARE] + parts[TransferKind.RETURN_SHARE]
        )
        row["transfers"] = [
            {
                "kind": transfer.kind,
                "amount_minor": transfer.amount_minor,
                "state": transfer.state,
                "transfer_id": transfer.stripe_transfer_id or None,
            }
            for transfer in by_job_transfers.get(job_id, [])
        ]
        jobs.append(row)
    balances = account_balances(prefix=account)
    owed = {currency: -total for (code, currency), total in balances.items() if code == account}
    transferred = {
        row["currency"]: row["total"]
        for row in JournalLine.objects.filter(account__code=account, entry__kind=EntryKind.TRANSFER)
        .values("currency")
        .annotate(total=Sum("amount_minor"))
    }
    return {"owed": owed, "transferred": transferred, "jobs": jobs}
