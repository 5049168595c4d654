"""Chargebacks: Stripe's dispute mirrored on the job, the courier's unpaid earnings frozen, the
evidence submitted through the gateway, the outcome booked; end to end from signed webhooks."""

from __future__ import annotations

import pytest
import requests
from django.conf import settings

from payments.disputes.services import (
    DisputePermissionDenied,
    DisputeStateError,
    chargeback_sync,
    dispute_courier_adjust,
    dispute_full_refund,
    dispute_reject,
    dispute_submit_evidence,
)
from payments.models import Dispute, JobPayment, JournalEntry, MoneyCommand, Transfer
from payments.standin import StandinServer
from tests.e2e_server import running_server
from tests.payments.disputes.conftest import delivered_and_paid, staff_in
from tests.payments.disputes.test_chargeback_files import PNG, with_proof
from tests.payments.helpers import (
    balances,
    courier_with_payouts,
    differences,
    drain,
    every_entry_balances,
    fee,
    standin_objects,
)
from tests.workers import running_cluster, wait_for

DISPUTE_FEE = 2000  # the stand-in's


def _chargeback(standin: StandinServer, charge_id: str, reason: str = "product_not_received"):
    response = requests.post(
        f"{standin.base_url}/_standin/charges/{charge_id}/dispute",
        json={"reason": reason},
        timeout=5,
    )
    response.raise_for_status()
    return response.json()


def _close(standin: StandinServer, dispute_id: str, outcome: str) -> None:
    requests.post(
        f"{standin.base_url}/_standin/disputes/{dispute_id}/close",
        json={"outcome": outcome},
        timeout=5,
    ).raise_for_status()


def _chargeback_entries() -> list[tuple[str, int]]:
    return sorted(
        JournalEntry.objects.filter(kind="chargeback").values_list(
            "lines__account__code", "lines__amount_minor"
        )
    )


@pytest.mark.django_db
def test_a_chargeback_opens_a_dispute_and_freezes_unpaid_earnings(standin, zone) -> None:
    job, _, courier = delivered_and_paid(standin, tip_minor=0, payouts=False)
    payment = JobPayment.objects.get(job_id=job.pk)
    stripe_dispute = _chargeback(standin, payment.charge_id)

    dispute = chargeback_sync(stripe_dispute_id=stripe_dispute["id"])
    assert (dispute.opener, dispute.state, dispute.reason) == ("stripe", "open", "never_delivered")
    assert (dispute.stripe_reason, dispute.stripe_status) == (
        "product_not_received",
        "needs_response",
    )
    assert (dispute.claim_fee_minor, dispute.claim_value_minor, dispute.opened_by) == (
        job.total_minor,
        0,
        None,
    )
    assert dispute.evidence_due_by is not None
    transfer = Transfer.objects.get(job_id=job.pk)
    assert (transfer.state, transfer.is_frozen) == ("held", True)
    charged = payment.captured_minor
    assert _chargeback_entries() == sorted(
        [("chargebacks", charged + DISPUTE_FEE), ("stripe_clearing", -(charged + DISPUTE_FEE))]
    )
    # Payouts enabled meanwhile: frozen earnings stay put.
    courier_with_payouts(courier, standin)
    from payments.flows import payouts_release

    assert payouts_release(courier_id=courier.pk) == 0
    # Any number of events later, still one dispute and one entry per balance transaction.
    assert chargeback_sync(stripe_dispute_id=stripe_dispute["id"]).pk == dispute.pk
    assert Dispute.objects.count() == 1
    assert JournalEntry.objects.filter(kind="chargeback").count() == 1
    assert differences() == []


@pytest.mark.django_db
def test_evidence_is_submitted_once_by_finance_and_a_win_is_booked(standin, zone) -> None:
    job, _, courier = delivered_and_paid(standin, tip_minor=0, payouts=False)
    payment = JobPayment.objects.get(job_id=job.pk)
    stripe_dispute = _chargeback(standin, payment.charge_id)
    dispute = chargeback_sync(stripe_dispute_id=stripe_dispute["id"])
    support, finance = staff_in("support"), staff_in("finance")

    with pytest.raises(DisputePermissionDenied):
        dispute_submit_evidence(dispute=dispute, actor=support, idempotency_key="e")
    for refused in (
        lambda: dispute_full_refund(dispute=dispute, actor=finance, note="", idempotency_key="r"),
        lambda: dispute_reject(dispute=dispute, actor=finance, reason="No.", idempotency_key="j"),
    ):
        with pytest.raises(DisputeStateError):
            refused()
    action = dispute_submit_evidence(dispute=dispute, actor=finance, idempotency_key="e")
    assert action.money_command.kind == "dispute_evidence"
    drain()
    (at_stripe,) = standin_objects(standin, "dispute")
    assert at_stripe["status"] == "under_review"
    assert at_stripe["evidence_details"]["submission_count"] == 1
    evidence = at_stripe["evidence"]
    assert evidence["service_date"] == f"{job.delivered_at:%Y-%m-%d}"
    assert evidence["shipping_address"] == job.dropoff_address
    assert "Tracking timeline:" in evidence["uncategorized_text"]
    assert "delivered" in evidence["uncategorized_text"]
    dispute.refresh_from_db()
    assert (dispute.state, dispute.stripe_status) == ("under_review", "under_review")
    with pytest.raises(DisputeStateError):
        dispute_submit_evidence(dispute=dispute, actor=finance, idempotency_key="e2")

    _close(standin, stripe_dispute["id"], "won")
    courier_with_payouts(courier, standin)
    chargeback_sync(stripe_dispute_id=stripe_dispute["id"])
    dispute.refresh_from_db()
    assert (dispute.state, dispute.stripe_outcome, dispute.resolution) == (
        "resolved",
        "won",
        "chargeback_won",
    )
    charged = payment.captured_minor
    # Won: the amount came back, Stripe kept its fee.
    assert balances()["chargebacks"] == DISPUTE_FEE
    transfer = Transfer.objects.get(job_id=job.pk)
    assert transfer.is_frozen is False
    drain()
    (sent,) = standin_objects(standin, "transfer")
    assert sent["amount"] == job.courier_payout_minor
    assert (
        balances()["stripe_clearing"]
        == charged - fee(charged) - DISPUTE_FEE - job.courier_payout_minor
    )
    assert every_entry_balances()
    assert differences() == []


@pytest.mark.django_db
def test_a_lost_chargeback_books_amount_and_fee_and_finance_recovers_from_the_courier(
    standin, zone
) -> None:
    job, _, courier = delivered_and_paid(standin, tip_minor=0, payouts=False)
    payment = JobPayment.objects.get(job_id=job.pk)
    stripe_dispute = _chargeback(standin, payment.charge_id)
    dispute = chargeback_sync(stripe_dispute_id=stripe_dispute["id"])
    finance = staff_in("finance")
    action = dispute_courier_adjust(
        dispute=dispute, actor=finance, amount_minor=200, note="", idempotency_key="a"
    )
    assert sorted(action.journal_entry.lines.values_list("account__code", "amount_minor")) == [
        ("chargebacks", -200),
        (f"courier_payable:{courier.pk}", 200),
    ]
    dispute.refresh_from_db()
    assert (dispute.state, dispute.resolution) == ("open", "")  # Stripe's outcome decides
    _close(standin, stripe_dispute["id"], "lost")
    chargeback_sync(stripe_dispute_id=stripe_dispute["id"])
    dispute.refresh_from_db()
    assert (dispute.state, dispute.stripe_outcome, dispute.resolution) == (
        "resolved",
        "lost",
        "chargeback_lost",
    )
    assert balances()["chargebacks"] == payment.captured_minor + DISPUTE_FEE - 200
    assert _chargeback_entries() == sorted(
        [
            ("chargebacks", payment.captured_minor + DISPUTE_FEE),
            ("stripe_clearing", -(payment.captured_minor + DISPUTE_FEE)),
        ]
    )
    transfer = Transfer.objects.get(job_id=job.pk)
    assert (transfer.is_frozen, transfer.amount_minor) == (False, job.courier_payout_minor - 200)
    with pytest.raises(DisputeStateError):
        dispute_submit_evidence(dispute=dispute, actor=finance, idempotency_key="late")
    assert MoneyCommand.objects.filter(kind="dispute_evidence").count() == 0
    assert differences() == []


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_chargeback_from_signed_webhooks_end_to_end(standin, zone) -> None:
    """The stand-in signs and posts its dispute events to the running server; the worker
    handles them and runs the evidence command against the stand-in, which uploads the
    delivery photo as a Stripe file and names it in the evidence."""
    job, _, _ = delivered_and_paid(standin, tip_minor=0, payouts=False)
    with_proof(job, photo=("image/png", PNG), signature=None)
    payment = JobPayment.objects.get(job_id=job.pk)
    with (
        running_server(
            database=settings.DATABASES["default"], max_body_bytes=settings.MAX_REQUEST_BODY_BYTES
        ) as server,
        running_cluster(),
    ):
        base = f"http://{server.host}:{server.port}"
        standin.add_endpoint(
            f"{base}/api/v1/payments/stripe/webhook/", settings.STRIPE_WEBHOOK_SECRET, connect=False
        )
        stripe_dispute = _chargeback(standin, payment.charge_id)
        assert wait_for(
            lambda: Dispute.objects.filter(stripe_dispute_id=stripe_dispute["id"]).exists(), 60
        )
        dispute = Dispute.objects.get(stripe_dispute_id=stripe_dispute["id"])
        assert wait_for(lambda: Transfer.objects.get(job_id=job.pk).is_frozen, 30)

        dispute_submit_evidence(dispute=dispute, actor=staff_in("finance"), idempotency_key="e")
        assert wait_for(
            lambda: Dispute.objects.get(pk=dispute.pk).stripe_status == "under_review", 60
        )
        (photo,) = standin_objects(standin, "file")
        assert (photo["purpose"], photo["filename"], photo["size"]) == (
            "dispute_evidence",
            f"delivery-photo-{job.pk}.png",
            len(PNG),
        )
        assert standin.store.objects["file"][photo["id"]]["_content"] == PNG
        (at_stripe,) = standin_objects(standin, "dispute")
        assert at_stripe["evidence"]["shipping_documentation"] == photo["id"]
        _close(standin, stripe_dispute["id"], "lost")
        assert wait_for(lambda: Dispute.objects.get(pk=dispute.pk).stripe_outcome == "lost", 60)
        assert standin.wait_for_webhooks(30)
    dispute.refresh_from_db()
    assert (dispute.state, dispute.resolution) == ("resolved", "chargeback_lost")
    assert balances()["chargebacks"] == payment.captured_minor + DISPUTE_FEE
    assert Transfer.objects.get(job_id=job.pk).is_frozen is False
    assert every_entry_balances()
    assert differences() == []
