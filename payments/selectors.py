"""Reads over payments: ledger balances, a job's payment, a courier's earnings."""

from __future__ import annotations

from django.db.models import Sum

from payments.models import JournalLine


def account_balances(*, prefix: str = "") -> dict[tuple[str, str], int]:
    """Every account's balance per currency, as ``{(code, currency): minor}`` (debit +)."""
    rows = JournalLine.objects.all()
    if prefix:
        rows = rows.filter(account__code__startswith=prefix)
    totals = rows.values("account__code", "currency").annotate(total=Sum("amount_minor"))
    return {(row["account__code"], row["currency"]): row["total"] for row in totals}
