"""The one service that posts journal entries, and the account helpers it uses."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from couriers.models import Courier
from payments.models import AccountKind, JournalEntry, JournalLine, LedgerAccount
from payments.models.ledger import SINGLETON_KINDS


@dataclass(frozen=True)
class Line:
    """One line to post: ``account`` is a code (``stripe_clearing``, ``courier_payable:7``)."""

    account: str
    amount_minor: int
    currency: str


class UnbalancedEntry(ValueError):
    """The lines of an entry do not sum to zero in some currency."""


class EntryMismatch(ValueError):
    """An entry with this idempotency key exists with other lines."""


def courier_payable(courier: Courier | int) -> str:
    return f"courier_payable:{courier.pk if isinstance(courier, Courier) else courier}"


def _account(code: str) -> LedgerAccount:
    kind, _, courier_id = code.partition(":")
    kind = AccountKind(kind)
    if (kind in SINGLETON_KINDS) == bool(courier_id):
        raise ValueError(f"bad ledger account code {code!r}")
    account, _ = LedgerAccount.objects.get_or_create(
        code=code, defaults={"kind": kind, "courier_id": int(courier_id) if courier_id else None}
    )
    return account


def _lines_key(lines: Sequence[Line]) -> list[tuple[str, int, str]]:
    return sorted((line.account, line.amount_minor, line.currency) for line in lines)


def ledger_post(
    *,
    idempotency_key: str,
    kind: str,
    lines: Sequence[Line],
    job_id: object | None = None,
    reference: str = "",
    description: str = "",
) -> tuple[JournalEntry, bool]:
    """Post one balanced entry once; True if it was posted now.

    Lines with a zero amount are dropped (a fee-free split has none). An entry already
    posted under ``idempotency_key`` is returned as it is (False) when its lines match and
    raises ``EntryMismatch`` when they do not, so a retried command can never post twice
    nor silently post something else. The database re-checks the balance at commit.
    """
    lines = [line for line in lines if line.amount_minor != 0]
    if not lines:
        raise UnbalancedEntry(f"entry {idempotency_key} has no non-zero lines")
    totals: dict[str, int] = defaultdict(int)
    for line in lines:
        totals[line.currency] += line.amount_minor
    unbalanced = {currency: total for currency, total in totals.items() if total}
    if unbalanced:
        raise UnbalancedEntry(f"entry {idempotency_key} is off by {unbalanced}")
    try:
        with transaction.atomic():
            entry = JournalEntry.objects.create(
                idempotency_key=idempotency_key,
                kind=kind,
                job_id=job_id,
                reference=reference,
                description=description,
            )
            JournalLine.objects.bulk_create(
                JournalLine(
                    entry=entry,
                    account=_account(line.account),
                    amount_minor=line.amount_minor,
                    currency=line.currency,
                )
                for line in lines
            )
    except IntegrityError:
        entry = JournalEntry.objects.filter(idempotency_key=idempotency_key).first()
        if entry is None:
            raise
        posted = [
            Line(account=code, amount_minor=amount, currency=currency)
            for code, amount, currency in entry.lines.values_list(
                "account__code", "amount_minor", "currency"
            )
        ]
        if _lines_key(posted) != _lines_key(lines):
            raise EntryMismatch(f"entry {idempotency_key} was posted with other lines") from None
        return entry, False
    return entry, True
