"""A disputed job's money: payment, tip, transfers, money commands, ledger, Stripe ids."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Prefetch

from jobs.models import Job
from payments.models import JobPayment, JournalEntry, JournalLine, MoneyCommand, Tip, Transfer


@dataclass(frozen=True)
class EntryView:
    """A journal entry with its lines; ``total_minor`` per currency is zero when it balances."""

    entry: JournalEntry
    lines: list[JournalLine]
    totals: dict[str, int]

    @property
    def is_balanced(self) -> bool:
        return all(total == 0 for total in self.totals.values())


@dataclass(frozen=True)
class Money:
    """The job's payment, tip, transfers, money commands and ledger entries."""

    payment: JobPayment | None
    tip: Tip | None
    transfers: list[Transfer]
    commands: list[MoneyCommand]
    entries: list[EntryView]
    stripe_ids: list[tuple[str, str]] = field(default_factory=list)

    @property
    def is_balanced(self) -> bool:
        return all(view.is_balanced for view in self.entries)


def job_money(*, job: Job) -> Money:
    """The job's payment, tip, transfers, money commands and journal entries with their
    lines and accounts (six queries), and every Stripe object id among them."""
    payment = JobPayment.objects.filter(job_id=job.pk).first()
    tip = Tip.objects.filter(job_id=job.pk).first()
    transfers = list(Transfer.objects.filter(job_id=job.pk).order_by("created_at", "pk"))
    commands = list(MoneyCommand.objects.filter(job_id=job.pk).order_by("created_at", "pk"))
    entries = list(
        JournalEntry.objects.filter(job_id=job.pk)
        .order_by("created_at", "pk")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=JournalLine.objects.select_related("account").order_by("pk"),
            )
        )
    )
    views = []
    for entry in entries:
        lines = list(entry.lines.all())
        totals: dict[str, int] = defaultdict(int)
        for line in lines:
            totals[line.currency] += line.amount_minor
        views.append(EntryView(entry=entry, lines=lines, totals=dict(totals)))
    return Money(
        payment=payment,
        tip=tip,
        transfers=transfers,
        commands=commands,
        entries=views,
        stripe_ids=_stripe_ids(payment, tip, transfers, entries),
    )


def _stripe_ids(
    payment: JobPayment | None,
    tip: Tip | None,
    transfers: list[Transfer],
    entries: list[JournalEntry],
) -> list[tuple[str, str]]:
    """(what, id) for every Stripe object behind the job's money, each id once, in order."""
    found: list[tuple[str, str]] = []
    if payment is not None:
        found += [
            ("customer", payment.customer_id),
            ("payment method", payment.payment_method_id),
            ("payment intent", payment.intent_id),
            ("charge", payment.charge_id),
        ]
    if tip is not None:
        found += [("tip payment intent", tip.intent_id), ("tip charge", tip.charge_id)]
    found += [
        (f"transfer ({transfer.kind})", transfer.stripe_transfer_id) for transfer in transfers
    ]
    found += [(f"ledger {entry.kind}", entry.reference) for entry in entries]
    seen: set[str] = set()
    unique = []
    for what, stripe_id in found:
        if stripe_id and stripe_id not in seen:
            seen.add(stripe_id)
            unique.append((what, stripe_id))
    return unique
