"""The ledger: one posting service, balanced entries and append-only rows held by the database."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from payments.ledger import EntryMismatch, Line, UnbalancedEntry, courier_payable, ledger_post
from payments.models import JournalEntry, JournalLine, LedgerAccount
from payments.selectors import account_balances
from tests.factories import CourierFactory

pytestmark = pytest.mark.django_db


def _capture_lines(courier_id: int) -> list[Line]:
    return [
        Line("stripe_clearing", 1000, "eur"),
        Line("platform_revenue", -200, "eur"),
        Line(courier_payable(courier_id), -800, "eur"),
    ]


def test_ledger_post_writes_one_balanced_entry_and_balances_follow() -> None:
    courier = CourierFactory()
    entry, created = ledger_post(
        idempotency_key="job:1:capture", kind="capture", lines=_capture_lines(courier.pk)
    )
    assert created is True
    assert sorted(entry.lines.values_list("account__code", "amount_minor", "currency")) == [
        (f"courier_payable:{courier.pk}", -800, "eur"),
        ("platform_revenue", -200, "eur"),
        ("stripe_clearing", 1000, "eur"),
    ]
    assert account_balances() == {
        ("stripe_clearing", "eur"): 1000,
        ("platform_revenue", "eur"): -200,
        (f"courier_payable:{courier.pk}", "eur"): -800,
    }
    assert LedgerAccount.objects.get(code=f"courier_payable:{courier.pk}").courier_id == courier.pk


def test_ledger_post_twice_with_the_same_key_posts_once() -> None:
    courier = CourierFactory()
    first, _ = ledger_post(
        idempotency_key="job:1:capture", kind="capture", lines=_capture_lines(courier.pk)
    )
    again, created = ledger_post(
        idempotency_key="job:1:capture", kind="capture", lines=_capture_lines(courier.pk)
    )
    assert created is False
    assert again.pk == first.pk
    assert JournalEntry.objects.count() == 1
    assert JournalLine.objects.count() == 3


def test_ledger_post_same_key_other_lines_is_refused() -> None:
    courier = CourierFactory()
    ledger_post(idempotency_key="job:1:capture", kind="capture", lines=_capture_lines(courier.pk))
    other = [Line("stripe_clearing", 5, "eur"), Line("platform_revenue", -5, "eur")]
    with pytest.raises(EntryMismatch):
        ledger_post(idempotency_key="job:1:capture", kind="capture", lines=other)
    assert JournalLine.objects.count() == 3


def test_ledger_post_refuses_unbalanced_lines_per_currency() -> None:
    lines = [Line("stripe_clearing", 100, "eur"), Line("platform_revenue", -100, "usd")]
    with pytest.raises(UnbalancedEntry):
        ledger_post(idempotency_key="x", kind="adjustment", lines=lines)
    assert JournalEntry.objects.count() == 0


def test_ledger_post_drops_zero_lines() -> None:
    entry, _ = ledger_post(
        idempotency_key="k",
        kind="cancellation_fee",
        lines=[
            Line("stripe_clearing", 500, "eur"),
            Line("platform_revenue", 0, "eur"),
            Line("refunds", -500, "eur"),
        ],
    )
    assert entry.lines.count() == 2


def _raw_entry(key: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO payments_journalentry (idempotency_key, kind, reference, description,"
            " created_at) VALUES (%s, 'adjustment', '', '', now()) RETURNING id",
            [key],
        )
        return cursor.fetchone()[0]


def _raw_line(entry_id: int, account: LedgerAccount, amount: int, currency: str = "eur") -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO payments_journalline (entry_id, account_id, amount_minor, currency)"
            " VALUES (%s, %s, %s, %s)",
            [entry_id, account.pk, amount, currency],
        )


def _accounts() -> tuple[LedgerAccount, LedgerAccount]:
    clearing = LedgerAccount.objects.create(code="stripe_clearing", kind="stripe_clearing")
    revenue = LedgerAccount.objects.create(code="platform_revenue", kind="platform_revenue")
    return clearing, revenue


def _post_raw(lines: list[tuple[LedgerAccount, int, str]], *, immediate: bool = True) -> None:
    """Insert an entry and its lines with SQL; ``immediate`` runs the deferred checks now,
    inside the test's transaction, instead of at a commit the test never reaches."""
    with transaction.atomic():
        entry = _raw_entry("raw")
        for account, amount, currency in lines:
            _raw_line(entry, account, amount, currency)
        if immediate:
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_database_refuses_an_unbalanced_entry_at_commit() -> None:
    clearing, revenue = _accounts()
    with pytest.raises(IntegrityError, match="unbalanced: 1 eur off"):
        _post_raw([(clearing, 101, "eur"), (revenue, -100, "eur")])
    assert JournalEntry.objects.count() == 0


def test_database_checks_each_currency_on_its_own() -> None:
    clearing, revenue = _accounts()
    with pytest.raises(IntegrityError, match="unbalanced"):
        _post_raw([(clearing, 100, "eur"), (revenue, -100, "usd")])


def test_database_refuses_an_entry_without_lines() -> None:
    _accounts()
    with pytest.raises(IntegrityError, match="has no lines"):
        _post_raw([])


def test_database_accepts_a_balanced_raw_entry() -> None:
    clearing, revenue = _accounts()
    _post_raw([(clearing, 100, "eur"), (revenue, -100, "eur")])
    assert account_balances() == {
        ("stripe_clearing", "eur"): 100,
        ("platform_revenue", "eur"): -100,
    }


def _execute(statement: str) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE payments_journalline SET amount_minor = amount_minor * 2",
        "DELETE FROM payments_journalline",
        "UPDATE payments_journalentry SET description = 'edited'",
        "DELETE FROM payments_journalentry",
    ],
)
def test_database_refuses_to_change_or_delete_ledger_rows(statement: str) -> None:
    courier = CourierFactory()
    ledger_post(idempotency_key="job:1:capture", kind="capture", lines=_capture_lines(courier.pk))
    with pytest.raises(DatabaseError, match="append-only"):
        _execute(statement)
    assert sorted(JournalLine.objects.values_list("amount_minor", flat=True)) == [-800, -200, 1000]
    assert JournalEntry.objects.get().description == ""


@pytest.mark.django_db(transaction=True)
def test_an_unbalanced_commit_really_fails() -> None:
    clearing, revenue = _accounts()
    with pytest.raises(IntegrityError, match="unbalanced"):
        _post_raw([(clearing, 100, "eur"), (revenue, -99, "eur")], immediate=False)
    assert JournalEntry.objects.count() == 0
    assert JournalLine.objects.count() == 0
