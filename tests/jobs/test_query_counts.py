"""Database round trips per post, dispatch pass and accept, after-commit work included.

Each count is the whole cost a caller pays: the statements inside the transaction and
those its on-commit callbacks run (socket frames, tracking, tasks). In a test the
service's outer ``atomic`` is a savepoint inside the test's transaction, so every count
includes that SAVEPOINT / RELEASE pair; in production it is BEGIN / COMMIT.

Django records one query per ``execute``, and an execute is one round trip: two
statements sent in one execute (``marketplace.sqlcache.rows_in_one_round_trip``) count
once, and the captured SQL holds both.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_q.models import Schedule
from rest_framework.test import APIClient

from couriers.models import Courier, CourierStatus
from jobs.dispatch import Outcome, dispatch_job, offer_accept
from jobs.lifecycle import job_record_creation
from jobs.models import Job, JobStatus, Offer, OfferStatus, ServiceZone
from jobs.tracking.publish import tracking_publish_now
from tests.factories import JobFactory
from tests.jobs.conftest import trip_body
from tests.jobs.dispatch_helpers import courier_at, pending_job

pytestmark = pytest.mark.django_db


def _statements(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"].split()[0] for q in queries.captured_queries]


def test_a_job_nobody_tracks_costs_no_tracking_reads(django_assert_num_queries: Any) -> None:
    job = pending_job()

    with django_assert_num_queries(0):
        tracking_publish_now(job_pk=job.pk, event_kind="status")


def test_recording_a_new_job_reads_nothing_after_commit(
    django_capture_on_commit_callbacks: Any,
) -> None:
    job = JobFactory()

    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        job_record_creation(job=job, actor=None)

    # Its sequence number (the posting service inserts it already set) and the first
    # event; nothing after commit.
    assert _statements(queries) == ["UPDATE", "INSERT"]
    # The socket frames with the tracking state (one round trip), the dispatch task (no
    # webhook set).
    assert len(callbacks) == 2


def _couriers_around_the_pickup() -> None:
    for distance in (500, 1000, 1500):
        courier_at(distance)


def test_a_post_through_the_api_costs_a_fixed_number_of_queries(
    shop_client: APIClient, zone: ServiceZone, django_capture_on_commit_callbacks: Any
) -> None:
    _couriers_around_the_pickup()

    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = shop_client.post(
            "/api/v1/jobs/", trip_body(), format="json", HTTP_IDEMPOTENCY_KEY="count-1"
        )

    assert response.status_code == 201
    # The token; pricing (zone, distance, two surge counts) in a savepoint; the card
    # (billing, the payment row inserted unless there, authorised); then the job's own
    # transaction:
    # key lock, replay check, the job and its first event in one statement (sequence
    # number included), the payment row touched (the sweeper must not take a hold whose
    # job is being saved), payment read for the stored response, stored response; the
    # payment for the output.
    # GeoDjango reads spatial_ref_sys once per process: not a cost of each post.
    captured = [q["sql"] for q in queries.captured_queries if "spatial_ref_sys" not in q["sql"]]
    job_statements = [sql.split()[0] for sql in captured]
    assert len(job_statements) == 21
    assert job_statements.count("INSERT") == 1  # the payment row
    assert job_statements.count("UPDATE") == 3  # authorised, touched, stored response
    (job_and_event,) = [sql for sql in captured if sql.startswith("WITH job_row")]
    assert 'INSERT INTO "jobs_job"' in job_and_event
    assert 'INSERT INTO "jobs_jobevent"' in job_and_event


def test_a_first_pass_with_its_after_commit_work_costs_six_round_trips(
    django_capture_on_commit_callbacks: Any,
) -> None:
    _couriers_around_the_pickup()
    job = pending_job()

    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        result = dispatch_job(job_pk=job.pk)

    assert result.outcome == Outcome.OFFERED
    # Savepoint; the job lock and its offers (two statements, one round trip); the
    # selector taking the courier locks in the same statement; the engaged check; then
    # one statement for the offer insert, the job's save and the follow-up schedule;
    # release. The offer frame needs no query.
    assert _statements(queries) == ["SAVEPOINT", "SELECT", "SELECT", "SELECT", "WITH", "RELEASE"]
    lock, history = queries.captured_queries[1]["sql"].split("; ")
    assert "FOR UPDATE OF" in lock
    assert ('FROM "jobs_offer"' in history, "FOR UPDATE" in history) == (True, False)
    assert "pg_try_advisory_xact_lock" in queries.captured_queries[2]["sql"]
    write = queries.captured_queries[4]["sql"]
    assert [write.count(part) for part in ('INSERT INTO "jobs_offer"', 'UPDATE "jobs_job"')] == [
        1,
        1,
    ]
    assert 'INSERT INTO "django_q_schedule"' in write
    offer = Offer.objects.get(job=job)
    assert (offer.status, offer.dispatch_round, offer.created_at is not None) == (
        OfferStatus.PENDING,
        0,
        True,
    )
    job.refresh_from_db()
    assert (job.dispatch_round, job.dispatch_mode) == (0, "sequential")
    (schedule,) = Schedule.objects.filter(name=f"dispatch follow-up {job.pk}")
    assert schedule.next_run == offer.expires_at + timedelta(seconds=1)


def test_an_accept_with_its_after_commit_work_costs_five_queries(
    django_capture_on_commit_callbacks: Any,
) -> None:
    _couriers_around_the_pickup()
    job = pending_job()
    dispatch_job(job_pk=job.pk)
    offer = Offer.objects.select_related("courier__user").get(job=job)

    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        accepted = offer_accept(offer_pk=offer.pk, courier=offer.courier)

    assert (accepted.status, accepted.job.status) == (OfferStatus.ACCEPTED, JobStatus.ASSIGNED)
    assert accepted.job.courier_id == offer.courier_id
    # Savepoint; the offer's job locked (the offer looked up in the same statement); one
    # statement for the claim, the courier available -> busy and the other offers
    # withdrawn; one for the job's move (no re-read, no savepoint of its own, the courier
    # already busy): job update and event insert; release.
    assert _statements(queries) == ["SAVEPOINT", "SELECT", "WITH", "WITH", "RELEASE"]
    claim, move = queries.captured_queries[2]["sql"], queries.captured_queries[3]["sql"]
    assert claim.count('UPDATE "jobs_offer"') + claim.count("UPDATE jobs_offer") == 2
    assert 'UPDATE "couriers_courier"' in claim
    assert ('UPDATE "jobs_job"' in move, 'INSERT INTO "jobs_jobevent"' in move) == (True, True)
    assert Courier.objects.get(pk=offer.courier_id).status == CourierStatus.BUSY
    assert Job.objects.get(pk=job.pk).last_event_seq == 2


def test_a_pass_that_finds_nobody_reads_the_job_once(
    django_capture_on_commit_callbacks: Any,
) -> None:
    job = pending_job()  # nobody around the pickup

    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        result = dispatch_job(job_pk=job.pk)

    assert result.outcome == Outcome.UNASSIGNED
    # The narrow job lock holds everything the move to unassigned and its side effects
    # read: no deferred field is loaded afterwards, and the shop is not read again.
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    assert sum('FROM "jobs_job"' in sql for sql in reads) == 1
    assert not any('FROM "marketplace_shop"' in sql for sql in reads)
    assert Job.objects.get(pk=job.pk).status == JobStatus.UNASSIGNED


def test_an_accept_reads_the_job_once(django_capture_on_commit_callbacks: Any) -> None:
    _couriers_around_the_pickup()
    job = pending_job()
    dispatch_job(job_pk=job.pk)
    offer = Offer.objects.select_related("courier__user").get(job=job)

    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        accepted = offer_accept(offer_pk=str(offer.pk), courier=offer.courier)
        answer = (accepted.status, accepted.job.status, accepted.job_id)

    assert answer == (OfferStatus.ACCEPTED, JobStatus.ASSIGNED, job.pk)
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    assert len(reads) == 1
    assert 'FROM "jobs_job"' in reads[0]
    assert 'INNER JOIN "marketplace_shop"' in reads[0]
