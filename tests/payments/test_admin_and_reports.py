"""Staff see payments, transfers, the ledger and its balances and the latest reconciliation,
and cannot change any of it; the reconcile command prints differences and stores its report;
a courier's earnings can be limited to dates."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from payments.models import JobPayment, JournalEntry, ReconciliationReport
from tests.conftest import client_for
from tests.factories import CourierFactory, ShopUserFactory, UserFactory
from tests.payments.helpers import courier_with_payouts, drain, post_job, walk

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered(standin, zone):
    courier = CourierFactory()
    courier_with_payouts(courier, standin)
    job_id = post_job(client_for(ShopUserFactory())).json()["id"]
    job = walk(job_id, "delivered", courier=courier)
    drain()
    return job


def test_admin_shows_money_read_only(client, delivered) -> None:
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    entry = JournalEntry.objects.get(kind="capture")

    pages = {
        "payments": client.get("/admin/payments/jobpayment/"),
        "transfers": client.get("/admin/payments/transfer/"),
        "entries": client.get("/admin/payments/journalentry/"),
        "entry": client.get(f"/admin/payments/journalentry/{entry.pk}/change/"),
        "accounts": client.get("/admin/payments/ledgeraccount/"),
        "reports": client.get("/admin/payments/reconciliationreport/"),
    }
    delete = client.post(f"/admin/payments/journalentry/{entry.pk}/delete/", {"post": "yes"})
    change = client.post(
        f"/admin/payments/jobpayment/{delivered.pk}/change/", {"captured_minor": 1}
    )

    assert {name: page.status_code for name, page in pages.items()} == dict.fromkeys(pages, 200)
    assert f"-{delivered.platform_fee_minor} eur" in pages["accounts"].content.decode()
    assert b"Add journal entry" not in pages["entries"].content
    assert delete.status_code == 403
    assert change.status_code == 403
    assert JournalEntry.objects.filter(pk=entry.pk).exists()
    assert JobPayment.objects.get(job_id=delivered.pk).captured_minor == delivered.total_minor


def test_reconcile_command_reports_clean_books_and_stores_the_report(delivered) -> None:
    out = StringIO()

    call_command("payments_reconcile", stdout=out)

    assert out.getvalue().splitlines()[-1].startswith("0 difference(s); checked ")
    report = ReconciliationReport.objects.get()
    assert (report.difference_count, report.differences) == (0, [])
    assert report.checked["charges"] == 1
    assert report.checked["transfers"] == 1


def test_reconcile_command_names_each_difference_with_its_job(delivered) -> None:
    # Our row claims less than Stripe captured (as a lost update would leave it).
    JobPayment.objects.filter(job_id=delivered.pk).update(captured_minor=1)
    out = StringIO()

    with pytest.raises(SystemExit) as exit_info:
        call_command("payments_reconcile", stdout=out)

    lines = out.getvalue().splitlines()
    difference = json.loads(lines[0])
    assert exit_info.value.code == 1
    assert difference["kind"] == "charge_captured"
    assert difference["job_id"] == str(delivered.pk)
    assert (difference["stripe"], difference["ours"]) == (delivered.total_minor, 1)
    assert lines[-1].startswith("1 difference(s)")
    assert ReconciliationReport.objects.get().difference_count == 1


def test_earnings_between_dates(delivered) -> None:
    client = client_for(delivered.courier.user)
    today = timezone.localdate()

    inside = client.get(f"/api/v1/courier/earnings/?from={today}&to={today}").json()
    before = client.get(f"/api/v1/courier/earnings/?to={today - timedelta(days=1)}").json()
    bad = client.get("/api/v1/courier/earnings/?from=yesterday")

    (line,) = inside["jobs"]
    assert line["job_id"] == str(delivered.pk)
    assert (line["earned_minor"], line["transferred_minor"]) == (
        delivered.courier_payout_minor,
    ) * 2
    assert line["payout_minor"] == delivered.courier_payout_minor
    assert [step["kind"] for step in line["timeline"]] == ["capture", "transfer"]
    assert inside["owed"] == {"eur": 0}
    assert inside["transferred"] == {"eur": delivered.courier_payout_minor}
    assert before["jobs"] == []
    assert bad.status_code == 400
    assert bad.json()["code"] == "validation_error"
