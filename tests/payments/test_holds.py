"""Card holds never outlive a job's chance of delivery: an unassigned job's hold is released
after PAYMENT_UNASSIGNED_HOLD_MINUTES and a re-post authorises again; a scheduled job's
hold that would lapse before its release is released and made again at release; a
cancelled job left holding by a race is cancelled (the stand-in over HTTP)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from jobs.lifecycle import job_transition
from jobs.models import Job, JobStatus
from jobs.posting import job_cancel, jobs_release_due
from payments.authorisation import job_release_authorise
from payments.billing import shop_payment_method_set
from payments.errors import PaymentUnavailable
from payments.flows import PaymentNotHeld
from payments.models import JobPayment, MoneyCommand
from payments.sweeper import holds_release
from tests.conftest import client_for
from tests.factories import CourierFactory, ShopUserFactory
from tests.payments.helpers import differences, drain, post_job, standin_objects, walk

pytestmark = pytest.mark.django_db
S = JobStatus


@pytest.fixture
def shop(standin, zone):
    return ShopUserFactory()


def _intents(standin) -> list[tuple[str, str]]:
    return [(i["id"], i["status"]) for i in standin_objects(standin, "payment_intent")]


def _unassigned_job(shop) -> str:
    job_id = post_job(client_for(shop)).json()["id"]
    job_transition(job=job_id, to=S.UNASSIGNED, actor=None, reason="nobody")
    return job_id


def test_a_hold_is_kept_while_the_job_is_unassigned_for_less_than_the_limit(standin, shop) -> None:
    job_id = _unassigned_job(shop)

    assert holds_release(now=timezone.now() + timedelta(minutes=59)) == 0

    assert JobPayment.objects.get(job_id=job_id).status == "authorised"
    assert [status for _, status in _intents(standin)] == ["requires_capture"]
    assert not MoneyCommand.objects.filter(job_id=job_id).exists()


def test_an_unassigned_jobs_hold_is_released_and_a_repost_authorises_again(standin, shop) -> None:
    client = client_for(shop)
    job_id = _unassigned_job(shop)
    first_intent = JobPayment.objects.get(job_id=job_id).intent_id

    assert holds_release(now=timezone.now() + timedelta(minutes=61)) == 1
    assert holds_release(now=timezone.now() + timedelta(minutes=61)) == 0
    drain()

    payment = JobPayment.objects.get(job_id=job_id)
    assert (payment.status, payment.authorisation_round, payment.intent_id) == (
        "awaiting_authorisation",
        1,
        "",
    )
    assert _intents(standin) == [(first_intent, "canceled")]
    command = MoneyCommand.objects.get(job_id=job_id)
    assert (command.idempotency_key, command.state) == (f"job:{job_id}:cancel", "succeeded")
    assert client.get(f"/api/v1/jobs/{job_id}/").json()["payment"]["status"] == (
        "awaiting_authorisation"
    )

    response = client.post(f"/api/v1/jobs/{job_id}/repost/")

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "pending"
    payment.refresh_from_db()
    (old, new) = _intents(standin)
    assert old == (first_intent, "canceled")
    assert new[1] == "requires_capture"
    assert (payment.status, payment.intent_id) == ("authorised", new[0])

    job = walk(job_id, S.DELIVERED, courier=CourierFactory())
    drain()
    payment.refresh_from_db()
    assert (payment.status, payment.captured_minor) == ("captured", job.total_minor)
    assert [status for _, status in _intents(standin)] == ["canceled", "succeeded"]
    assert differences() == []


def test_a_repost_whose_card_is_declined_is_a_402_and_the_job_stays_unassigned(
    standin, shop
) -> None:
    client = client_for(shop)
    job_id = _unassigned_job(shop)
    holds_release(now=timezone.now() + timedelta(minutes=61))
    drain()
    shop_payment_method_set(
        shop=shop.shop, actor=shop, payment_method_id="pm_card_chargeCustomerFail"
    )

    response = client.post(f"/api/v1/jobs/{job_id}/repost/")

    assert response.status_code == 402
    assert response.json()["code"] == "payment_declined"
    assert Job.objects.get(pk=job_id).status == S.UNASSIGNED
    payment = JobPayment.objects.get(job_id=job_id)
    assert (payment.status, payment.authorisation_round) == ("declined", 2)

    # Another card: a new round, so a new key (the declined one would replay the decline).
    shop_payment_method_set(shop=shop.shop, actor=shop, payment_method_id="pm_card_visa")
    response = client.post(f"/api/v1/jobs/{job_id}/repost/")

    assert response.status_code == 200, response.json()
    assert JobPayment.objects.get(job_id=job_id).status == "authorised"
    statuses = [status for _, status in _intents(standin)]
    assert statuses == ["canceled", "requires_payment_method", "requires_capture"]


def test_cancelling_a_job_whose_hold_was_released_moves_no_money(standin, shop) -> None:
    job_id = _unassigned_job(shop)
    holds_release(now=timezone.now() + timedelta(minutes=61))
    drain()

    job_cancel(job=Job.objects.get(pk=job_id), actor=shop, reason="changed my mind")

    assert JobPayment.objects.get(job_id=job_id).status == "canceled"
    assert drain() == 0
    assert MoneyCommand.objects.filter(job_id=job_id).count() == 1  # the release's cancel
    assert [status for _, status in _intents(standin)] == ["canceled"]


def test_a_move_to_pending_without_a_hold_is_refused(standin, shop) -> None:
    job_id = _unassigned_job(shop)
    holds_release(now=timezone.now() + timedelta(minutes=61))

    # What a re-post that looked before the release would do next.
    with pytest.raises(PaymentNotHeld):
        job_transition(job=job_id, to=S.PENDING, actor=shop, reason="re-posted")

    assert Job.objects.get(pk=job_id).status == S.UNASSIGNED


def test_a_scheduled_jobs_hold_that_would_lapse_before_release_is_made_again_at_release(
    standin, shop, settings
) -> None:
    pickup_after = timezone.now() + timedelta(days=4)
    job_id = post_job(client_for(shop), pickup_after=pickup_after.isoformat()).json()["id"]
    payment = JobPayment.objects.get(job_id=job_id)
    assert payment.status == "authorised"  # inside the hold window: held at post
    assert holds_release() == 0  # the hold lasts 7 days: more than a day past the release

    settings.PAYMENT_HOLD_MARGIN_HOURS = 4 * 24  # lapses less than 4 days after release
    assert holds_release() == 1
    drain()
    assert JobPayment.objects.get(job_id=job_id).status == "awaiting_authorisation"
    assert _intents(standin) == [(payment.intent_id, "canceled")]

    assert jobs_release_due(now=pickup_after) == [job_id]

    payment.refresh_from_db()
    assert (payment.status, payment.authorisation_round) == ("authorised", 1)
    assert [status for _, status in _intents(standin)] == ["canceled", "requires_capture"]
    assert Job.objects.get(pk=job_id).status == S.PENDING


def test_a_cancelled_job_left_holding_by_a_race_is_cancelled(standin, shop) -> None:
    job_id = _unassigned_job(shop)
    holds_release(now=timezone.now() + timedelta(minutes=61))
    drain()
    # A re-post's authorisation whose answer was lost (Stripe made the hold), and the shop
    # cancels before it is tried again: the cancel finds nothing held to cancel.
    fault = {"path": "/v1/payment_intents", "status": 500, "count": 1, "after_execute": True}
    requests.post(f"{standin.base_url}/_standin/faults", json=fault, timeout=5)
    with pytest.raises(PaymentUnavailable):
        job_release_authorise(job_pk=job_id)
    job_cancel(job=Job.objects.get(pk=job_id), actor=shop, reason="changed my mind")
    assert JobPayment.objects.get(job_id=job_id).status == "authorising"
    assert [status for _, status in _intents(standin)] == ["canceled", "requires_capture"]

    assert holds_release() == 0  # the lost call may still be answering
    assert holds_release(now=timezone.now() + timedelta(minutes=3)) == 1

    payment = JobPayment.objects.get(job_id=job_id)
    (_, second) = _intents(standin)
    assert (payment.status, payment.intent_id) == ("canceled", second[0])
    assert [status for _, status in _intents(standin)] == ["canceled", "canceled"]
    assert holds_release(now=timezone.now() + timedelta(minutes=3)) == 0
