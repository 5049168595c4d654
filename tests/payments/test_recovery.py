"""What crashes and outages leave behind is repaired: authorisations whose job never got
saved are cancelled by the sweeper; money commands retry with backoff, and an answer lost
after Stripe acted is retried into the same capture."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from jobs.models import JobStatus
from payments.authorisation import job_authorise
from payments.errors import PaymentUnavailable
from payments.models import JobPayment, JournalEntry, MoneyCommand
from payments.outbox import command_run
from payments.sweeper import orphans_cancel
from tests.conftest import client_for
from tests.factories import CourierFactory, JobFactory, ShopUserFactory
from tests.payments.helpers import differences, post_job, standin_objects, walk

pytestmark = pytest.mark.django_db


def _fault(standin, path: str, *, status: int = 500, after_execute: bool = False) -> None:
    body = {"path": path, "status": status, "count": 1, "after_execute": after_execute}
    requests.post(f"{standin.base_url}/_standin/faults", json=body, timeout=5).raise_for_status()


def test_the_sweeper_cancels_a_hold_whose_job_never_appeared(standin, zone) -> None:
    shop = ShopUserFactory()
    draft = JobFactory.build(shop=shop.shop, zone=zone)
    job_authorise(job=draft)
    assert JobPayment.objects.get(job_id=draft.pk).status == "authorised"

    assert orphans_cancel() == 0  # too young: its post may still be saving the job
    JobPayment.objects.filter(job_id=draft.pk).update(
        updated_at=timezone.now() - timedelta(minutes=3)
    )
    assert orphans_cancel() == 1

    (intent,) = standin_objects(standin, "payment_intent")
    assert intent["status"] == "canceled"
    assert JobPayment.objects.get(job_id=draft.pk).status == "canceled"
    assert orphans_cancel() == 0


def test_the_sweeper_finds_and_cancels_an_intent_from_a_call_that_never_answered(
    standin, zone
) -> None:
    shop = ShopUserFactory()
    draft = JobFactory.build(shop=shop.shop, zone=zone)
    # Stripe made the intent, but its answer was lost: our row stays "authorising".
    _fault(standin, "/v1/payment_intents", after_execute=True)
    with pytest.raises(PaymentUnavailable):
        job_authorise(job=draft)
    payment = JobPayment.objects.get(job_id=draft.pk)
    assert (payment.status, payment.intent_id) == ("authorising", "")
    JobPayment.objects.filter(pk=payment.pk).update(
        updated_at=timezone.now() - timedelta(minutes=3)
    )

    assert orphans_cancel() == 1

    (intent,) = standin_objects(standin, "payment_intent")
    assert intent["status"] == "canceled"
    assert JobPayment.objects.get(pk=payment.pk).intent_id == intent["id"]


def test_a_saved_job_keeps_its_hold(standin, zone) -> None:
    job_id = post_job(client_for(ShopUserFactory())).json()["id"]
    JobPayment.objects.filter(job_id=job_id).update(updated_at=timezone.now() - timedelta(hours=1))

    assert orphans_cancel() == 0
    assert standin_objects(standin, "payment_intent")[0]["status"] == "requires_capture"


def test_a_failing_capture_is_retried_later_and_then_captures_once(standin, zone) -> None:
    job_id = post_job(client_for(ShopUserFactory())).json()["id"]
    walk(job_id, JobStatus.DELIVERED, courier=CourierFactory())
    command = MoneyCommand.objects.get(job_id=job_id, kind="capture")

    _fault(standin, "/v1/payment_intents/", status=503)
    assert command_run(pk=command.pk) == "pending"
    command.refresh_from_db()
    assert command.attempts == 1
    assert "GatewayUnavailable" in command.last_error
    assert command.next_attempt_at > timezone.now()
    assert command_run(pk=command.pk) is None  # not due yet

    # An answer lost after Stripe captured: the retry (same key) gets Stripe's replay.
    _fault(standin, "/v1/payment_intents/", status=500, after_execute=True)
    MoneyCommand.objects.filter(pk=command.pk).update(next_attempt_at=timezone.now())
    assert command_run(pk=command.pk) == "pending"
    MoneyCommand.objects.filter(pk=command.pk).update(next_attempt_at=timezone.now())
    assert command_run(pk=command.pk) == "succeeded"

    captured = [i for i in standin_objects(standin, "payment_intent") if i["status"] == "succeeded"]
    assert len(captured) == 1
    assert JournalEntry.objects.filter(kind="capture").count() == 1
    assert MoneyCommand.objects.get(pk=command.pk).attempts == 3
    assert differences() == []


def test_a_capture_stripe_refuses_is_failed_and_reported(standin, zone) -> None:
    job_id = post_job(client_for(ShopUserFactory())).json()["id"]
    walk(job_id, JobStatus.DELIVERED, courier=CourierFactory())
    command = MoneyCommand.objects.get(job_id=job_id, kind="capture")
    _fault(standin, "/v1/payment_intents/", status=400)

    assert command_run(pk=command.pk) == "failed"

    assert JournalEntry.objects.count() == 0
    MoneyCommand.objects.filter(pk=command.pk).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    (difference,) = differences()
    assert (difference["kind"], difference["job_id"]) == ("command_open", job_id)
