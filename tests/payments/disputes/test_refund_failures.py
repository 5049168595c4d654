"""A refund Stripe refuses does not count: at once (the call is refused) or later (the
refund is made, then fails), the dispute records it, the books undo it, reconciliation
stays clean, and staff may refund again, once even when two try at the same time."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from jobs.models import JobEvent
from payments.disputes.services import DisputeStateError, dispute_full_refund, dispute_refund
from payments.models import (
    DisputeAction,
    JobPayment,
    JournalEntry,
    MoneyCommand,
    StripeEvent,
)
from payments.outbox import command_run
from payments.webhooks import stripe_event_handle
from tests.concurrency import race
from tests.payments.disputes.conftest import delivered_and_paid, shop_dispute, staff_in
from tests.payments.helpers import balances, differences, drain, standin_objects

pytestmark = pytest.mark.django_db(transaction=True)


def _refuse_next_refund(standin) -> None:
    fault = {"path": "/v1/refunds", "method": "POST", "status": 400, "count": 1}
    requests.post(f"{standin.base_url}/_standin/faults", json=fault, timeout=5).raise_for_status()


def _actions(dispute) -> list[tuple[str, str, str, int]]:
    return list(
        dispute.actions.order_by("created_at", "pk").values_list(
            "kind", "from_state", "to_state", "attempt"
        )
    )


def _long_ago() -> None:
    """Every command written 16 minutes ago: what reconciliation sees once time passed."""
    MoneyCommand.objects.update(created_at=timezone.now() - timedelta(minutes=16))


def _deliver_standin_events(standin, *types: str) -> list[str]:
    """Store and handle the stand-in's events of ``types`` as the webhook task would,
    twice each (Stripe may send one more than once)."""
    handled = []
    for event in standin_objects(standin, "event"):
        if event["type"] not in types:
            continue
        stored, _ = StripeEvent.objects.get_or_create(
            event_id=event["id"], defaults={"type": event["type"], "payload": event}
        )
        stripe_event_handle(pk=stored.pk)
        stripe_event_handle(pk=stored.pk)
        handled.append(event["type"])
    return handled


def test_a_refund_refused_at_once_is_recorded_and_staff_refund_again(standin, zone, client) -> None:
    job, shop, _ = delivered_and_paid(standin)
    dispute = shop_dispute(job, shop, fee=300)
    finance = staff_in("finance")
    before = balances()
    first = dispute_refund(
        dispute=dispute,
        actor=finance,
        value_minor=0,
        fee_minor=300,
        tip_minor=0,
        note="",
        idempotency_key="r1",
    )
    _refuse_next_refund(standin)
    drain()

    refused = first.money_command
    refused.refresh_from_db()
    assert refused.state == "failed"
    dispute.refresh_from_db()
    assert (dispute.state, dispute.resolution, dispute.resolved_at) == ("under_review", "", None)
    failed = DisputeAction.objects.get(kind="refund_failed")
    assert (failed.actor, failed.party, failed.money_command_id, failed.journal_entry) == (
        None,
        "stripe",
        refused.pk,
        None,
    )
    assert (failed.refund_fee_minor, failed.amount_minor, failed.attempt) == (300, 300, 1)
    assert "failed this request on purpose" in failed.note
    assert standin_objects(standin, "refund") == []
    assert balances() == before  # nothing was booked, nothing to undo
    assert JobPayment.objects.get(job_id=job.pk).refunded_minor == 0
    _long_ago()
    assert differences() == []
    # The dispute's page offers the refunds again.
    client.force_login(finance)
    page = client.get(f"/admin/payments/dispute/{dispute.pk}/change/").content.decode()
    assert 'data-action="full_refund"' in page
    assert 'data-action="partial_refund"' in page

    again = dispute_refund(
        dispute=dispute,
        actor=finance,
        value_minor=0,
        fee_minor=300,
        tip_minor=0,
        note="",
        idempotency_key="r2",
    )
    assert again.money_command.idempotency_key == f"dispute:{dispute.pk}:refund:job:2"
    drain()
    (refund,) = standin_objects(standin, "refund")
    assert refund["amount"] == 300
    assert JobPayment.objects.get(job_id=job.pk).refunded_minor == 300
    assert balances()["refunds"] == 300
    assert _actions(dispute) == [
        ("open", "open", "awaiting_courier", 1),
        ("partial_refund", "awaiting_courier", "resolved", 1),
        ("refund_failed", "resolved", "under_review", 1),
        ("partial_refund", "under_review", "resolved", 2),
    ]
    # The second refund stands: it is the dispute's one refund.
    with pytest.raises(DisputeStateError):
        dispute_full_refund(dispute=dispute, actor=finance, note="", idempotency_key="r3")
    page = client.get(f"/admin/payments/dispute/{dispute.pk}/change/").content.decode()
    assert 'data-action="partial_refund"' not in page
    _long_ago()
    assert differences() == []


def test_a_refund_that_fails_later_is_undone_once(standin, zone) -> None:
    job, shop, _ = delivered_and_paid(standin, card="pm_card_refundFail")
    dispute = shop_dispute(job, shop)
    finance = staff_in("finance")
    before = balances()
    action = dispute_full_refund(dispute=dispute, actor=finance, note="", idempotency_key="f1")
    charged = action.amount_minor
    drain()
    command = action.money_command
    command.refresh_from_db()
    assert command.state == "succeeded"  # Stripe made the refund; it fails afterwards
    (refund,) = standin_objects(standin, "refund")
    assert (refund["status"], refund["failure_reason"]) == ("failed", "expired_or_canceled_card")

    handled = _deliver_standin_events(
        standin, "charge.refunded", "charge.refund.updated", "refund.failed"
    )

    assert handled == ["charge.refunded", "charge.refund.updated", "refund.failed"]
    dispute.refresh_from_db()
    assert (dispute.state, dispute.resolution) == ("under_review", "")
    (failed,) = DisputeAction.objects.filter(kind="refund_failed")
    assert (failed.money_command_id, failed.attempt, failed.amount_minor) == (
        command.pk,
        1,
        charged,
    )
    assert (failed.refund_fee_minor, failed.refund_tip_minor) == (
        action.refund_fee_minor,
        action.refund_tip_minor,
    )
    undo = JournalEntry.objects.get(idempotency_key=f"refund:{refund['id']}:failed")
    assert failed.journal_entry == undo
    assert sorted(undo.lines.values_list("account__code", "amount_minor")) == [
        ("refunds", -charged),
        ("stripe_clearing", charged),
    ]
    # The refund's entry stays as it was; the two together leave the books as before.
    assert JournalEntry.objects.filter(reference=refund["id"]).count() == 2
    assert balances() == before
    assert JobPayment.objects.get(job_id=job.pk).refunded_minor == 0
    _long_ago()
    assert differences() == []

    # Staff may try again; this card's refunds always fail, so the second one does too.
    retry = dispute_full_refund(dispute=dispute, actor=finance, note="", idempotency_key="f2")
    assert (retry.attempt, retry.amount_minor) == (2, charged)
    drain()
    _deliver_standin_events(standin, "charge.refund.updated", "refund.failed")
    assert list(
        DisputeAction.objects.filter(kind="refund_failed").values_list("attempt", flat=True)
    ) == [1, 2]
    assert balances() == before
    assert differences() == []
    # Two refunds at Stripe, both failed.
    assert [r["status"] for r in standin_objects(standin, "refund")] == ["failed", "failed"]


def test_two_staff_retrying_a_refused_refund_at_once_refund_once(standin, zone) -> None:
    job, shop, _ = delivered_and_paid(standin)
    dispute = shop_dispute(job, shop)
    one, two = staff_in("finance"), staff_in("support")
    dispute_full_refund(dispute=dispute, actor=one, note="", idempotency_key="first")
    _refuse_next_refund(standin)
    drain()
    dispute.refresh_from_db()
    assert dispute.state == "under_review"

    results = race(
        lambda: dispute_full_refund(dispute=dispute.pk, actor=one, note="", idempotency_key="a"),
        lambda: dispute_full_refund(dispute=dispute.pk, actor=two, note="", idempotency_key="b"),
    )

    assert sorted(type(result).__name__ for result in results) == [
        "DisputeAction",
        "DisputeStateError",
    ]
    assert DisputeAction.objects.filter(kind="full_refund", attempt=2).count() == 1
    drain()
    (refund,) = standin_objects(standin, "refund")
    assert refund["amount"] == job.total_minor + 150
    assert JobPayment.objects.get(job_id=job.pk).refunded_minor == job.total_minor + 150
    _long_ago()
    assert differences() == []


def test_the_failure_heard_before_the_refunds_answer_counts_once(standin, zone) -> None:
    job, shop, _ = delivered_and_paid(standin, card="pm_card_refundFail")
    dispute = shop_dispute(job, shop)
    finance = staff_in("finance")
    before = balances()
    action = dispute_full_refund(dispute=dispute, actor=finance, note="", idempotency_key="w1")
    # Stripe makes the refund but its answer is lost: the command will ask again.
    fault = {
        "path": "/v1/refunds",
        "method": "POST",
        "status": 500,
        "count": 1,
        "after_execute": True,
    }
    requests.post(f"{standin.base_url}/_standin/faults", json=fault, timeout=5).raise_for_status()
    assert command_run(pk=action.money_command_id) == "pending"
    command = MoneyCommand.objects.get(pk=action.money_command_id)

    _deliver_standin_events(standin, "charge.refunded", "charge.refund.updated", "refund.failed")
    MoneyCommand.objects.filter(pk=command.pk).update(next_attempt_at=timezone.now())
    assert command_run(pk=command.pk) == "succeeded"

    command.refresh_from_db()
    assert command.state == "succeeded"
    assert DisputeAction.objects.filter(kind="refund_failed").count() == 1
    assert balances() == before
    assert JobPayment.objects.get(job_id=job.pk).refunded_minor == 0
    assert list(
        JobEvent.objects.filter(job=job, kind="dispute").values_list("data__type", flat=True)
    ) == ["dispute.opened", "dispute.refunded", "dispute.refund_failed"]
    _long_ago()
    assert differences() == []
