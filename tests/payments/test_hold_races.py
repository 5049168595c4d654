"""One owner per Stripe key (real threads, real database, the stand-in over HTTP): the sweeper
never cancels the hold of a job being saved, a post never saves a job whose hold the
sweeper took, a post's compensating cancel and sweepers racing cancel once, and a
scheduled job's release repeats a lost request exactly (same key, same parameters)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.db import connection, transaction
from django.utils import timezone

from jobs.models import Job, JobStatus
from jobs.posting import _job_save, jobs_release_due
from payments.authorisation import job_authorisation_abandon, job_authorise
from payments.billing import shop_payment_method_set
from payments.errors import PaymentUnavailable
from payments.models import JobPayment
from payments.sweeper import orphans_cancel
from tests.concurrency import race
from tests.conftest import client_for
from tests.factories import JobFactory, ShopUserFactory
from tests.payments.helpers import post_job, standin_objects

pytestmark = pytest.mark.django_db(transaction=True)
WAIT = 60


def _authorised_draft(zone) -> Job:
    """A post that authorised and has been slow to save its job: the sweeper's age."""
    draft = JobFactory.build(shop=ShopUserFactory().shop, zone=zone)
    job_authorise(job=draft)
    JobPayment.objects.filter(job_id=draft.pk).update(
        updated_at=timezone.now() - timedelta(minutes=3)
    )
    return draft


def _intent_statuses(standin) -> list[str]:
    return [intent["status"] for intent in standin_objects(standin, "payment_intent")]


def _fault(standin, path: str, *, status: int = 500, after_execute: bool = False) -> None:
    body = {"path": path, "status": status, "count": 1, "after_execute": after_execute}
    requests.post(f"{standin.base_url}/_standin/faults", json=body, timeout=5).raise_for_status()


def _waits_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def test_the_sweeper_leaves_alone_the_hold_of_a_job_being_saved(standin, zone) -> None:
    draft = _authorised_draft(zone)
    inserted, commit = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def save() -> None:
        try:
            with transaction.atomic():
                _job_save(draft, actor=None, fingerprint="", render_response=None)
                inserted.set()
                commit.wait(WAIT)
        finally:
            connection.close()

    def sweep() -> None:
        try:
            outcome["cancelled"] = orphans_cancel()
        finally:
            connection.close()

    saver = threading.Thread(target=save)
    saver.start()
    assert inserted.wait(WAIT)
    sweeper = threading.Thread(target=sweep)
    sweeper.start()
    # The sweeper either finishes (it did not see the job and acted at once) or queues
    # behind the saving transaction's lock on the payment row; then the save commits.
    while sweeper.is_alive() and not _waits_on_a_lock():
        sweeper.join(0.01)
    commit.set()
    saver.join(WAIT)
    sweeper.join(WAIT)

    assert outcome == {"cancelled": 0}
    assert Job.objects.filter(pk=draft.pk).exists()
    assert JobPayment.objects.get(job_id=draft.pk).status == "authorised"
    assert _intent_statuses(standin) == ["requires_capture"]


def test_a_post_whose_hold_the_sweeper_took_is_not_saved(standin, zone) -> None:
    draft = _authorised_draft(zone)
    assert orphans_cancel() == 1

    with pytest.raises(PaymentUnavailable):
        _job_save(draft, actor=None, fingerprint="", render_response=None)

    assert not Job.objects.filter(pk=draft.pk).exists()
    assert JobPayment.objects.get(job_id=draft.pk).status == "canceled"
    assert _intent_statuses(standin) == ["canceled"]
    assert job_authorisation_abandon(job_pk=draft.pk) is False  # the post's own undo: a no-op


def test_a_compensating_cancel_and_two_sweepers_cancel_once(standin, zone) -> None:
    draft = _authorised_draft(zone)

    results = race(
        lambda: job_authorisation_abandon(job_pk=draft.pk),
        orphans_cancel,
        orphans_cancel,
    )

    assert sorted(int(result) for result in results) == [0, 0, 1]
    assert JobPayment.objects.get(job_id=draft.pk).status == "canceled"
    assert _intent_statuses(standin) == ["canceled"]


def test_a_cancel_stripe_did_not_answer_is_claimed_again_later(standin, zone) -> None:
    draft = _authorised_draft(zone)
    _fault(standin, "/v1/payment_intents/", status=503)

    assert orphans_cancel() == 1
    assert JobPayment.objects.get(job_id=draft.pk).status == "cancelling"
    assert orphans_cancel() == 0  # its claim is fresh: not stale yet
    assert _intent_statuses(standin) == ["requires_capture"]

    assert orphans_cancel(now=timezone.now() + timedelta(minutes=3)) == 1

    assert JobPayment.objects.get(job_id=draft.pk).status == "canceled"
    assert _intent_statuses(standin) == ["canceled"]


def _scheduled_beyond_the_window(standin, zone) -> tuple[Any, str, Any]:
    shop = ShopUserFactory()
    pickup_after = timezone.now() + timedelta(days=6)
    response = post_job(client_for(shop), pickup_after=pickup_after.isoformat())
    assert response.status_code == 201, response.json()
    return shop, response.json()["id"], pickup_after


def test_a_release_after_a_lost_answer_repeats_the_first_request(standin, zone) -> None:
    shop, job_id, pickup_after = _scheduled_beyond_the_window(standin, zone)
    _fault(standin, "/v1/payment_intents", after_execute=True)

    assert jobs_release_due(now=pickup_after) == []  # Stripe did not answer: try again later

    assert Job.objects.get(pk=job_id).status == JobStatus.SCHEDULED
    assert JobPayment.objects.get(job_id=job_id).status == "authorising"
    first_card = JobPayment.objects.get(job_id=job_id).payment_method_id
    shop_payment_method_set(shop=shop.shop, actor=shop, payment_method_id="pm_card_mastercard")

    assert jobs_release_due(now=pickup_after) == [job_id]

    payment = JobPayment.objects.get(job_id=job_id)
    (intent,) = standin_objects(standin, "payment_intent")
    assert (payment.status, payment.intent_id, payment.payment_method_id) == (
        "authorised",
        intent["id"],
        first_card,
    )
    assert intent["status"] == "requires_capture"
    assert Job.objects.get(pk=job_id).status == JobStatus.PENDING


def test_racing_releases_authorise_once(standin, zone) -> None:
    _, job_id, pickup_after = _scheduled_beyond_the_window(standin, zone)

    results = race(*[lambda: jobs_release_due(now=pickup_after)] * 3)

    assert sorted(results, key=len) == [[], [], [job_id]]
    assert _intent_statuses(standin) == ["requires_capture"]
    assert JobPayment.objects.get(job_id=job_id).status == "authorised"
    assert Job.objects.get(pk=job_id).status == JobStatus.PENDING
