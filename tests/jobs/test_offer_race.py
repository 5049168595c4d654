"""Races on real threads and connections: one job to one courier, one courier to one job."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from django.db import connection, transaction

from couriers.models import Courier, CourierStatus
from jobs.dispatch import (
    OfferNoLongerAvailable,
    Outcome,
    dispatch_job,
    offer_accept,
    offer_decline,
)
from jobs.models import COURIER_ACTIVE_STATUSES, Job, Offer, OfferStatus
from tests.concurrency import race
from tests.conftest import client_for
from tests.jobs.dispatch_helpers import courier_at, pending_job

pytestmark = pytest.mark.django_db(transaction=True)

RACERS = 50


@pytest.fixture(autouse=True)
def _dispatch_settings(settings) -> None:
    settings.DISPATCH_MODE = "broadcast"
    settings.DISPATCH_BROADCAST_SIZE = RACERS
    settings.DISPATCH_CANDIDATES = RACERS
    settings.DISPATCH_RADII_M = [3000, 6000, 12000]
    settings.OFFER_TTL_SECONDS = 30


def broadcast_to(couriers: list[Courier]) -> Job:
    """A pending job offered to all ``couriers`` at once by a real broadcast pass."""
    job = pending_job()
    result = dispatch_job(job_pk=job.pk)
    assert result.outcome == Outcome.OFFERED
    assert {o.courier_id for o in result.offers} == {c.pk for c in couriers}
    return job


def accept_as(courier: Courier, offer: Offer):
    return lambda: offer_accept(offer_pk=offer.pk, courier=courier)


def assert_one_winner(job: Job, couriers: list[Courier], winner_pk: int) -> None:
    job.refresh_from_db()
    assert (job.status, job.courier_id) == ("assigned", winner_pk)
    statuses = Counter(Offer.objects.filter(job=job).values_list("status", flat=True))
    assert statuses == {OfferStatus.ACCEPTED: 1, OfferStatus.WITHDRAWN: len(couriers) - 1}
    assert Offer.objects.get(job=job, status=OfferStatus.ACCEPTED).courier_id == winner_pk
    busy = set(
        Courier.objects.filter(
            pk__in=[c.pk for c in couriers], status=CourierStatus.BUSY
        ).values_list("pk", flat=True)
    )
    assert busy == {winner_pk}


@pytest.mark.parametrize("repetition", range(4))
def test_fifty_couriers_accept_one_job_at_once_and_exactly_one_wins(repetition: int) -> None:
    couriers = [courier_at(100 + 40 * i, bearing_deg=7 * i) for i in range(RACERS)]
    job = broadcast_to(couriers)
    offers = {o.courier_id: o for o in Offer.objects.filter(job=job)}

    results = race(*(accept_as(c, offers[c.pk]) for c in couriers))

    winners = [r for r in results if isinstance(r, Offer)]
    losers = [r for r in results if isinstance(r, OfferNoLongerAvailable)]
    assert (len(winners), len(losers)) == (1, RACERS - 1), [
        r for r in results if not isinstance(r, Offer | OfferNoLongerAvailable)
    ]
    assert_one_winner(job, couriers, winners[0].courier_id)


def test_fifty_couriers_race_through_the_endpoint_one_200_and_49_409() -> None:
    couriers = [courier_at(100 + 40 * i, bearing_deg=7 * i) for i in range(RACERS)]
    job = broadcast_to(couriers)
    offers = {o.courier_id: o for o in Offer.objects.filter(job=job)}
    clients = {c.pk: client_for(c.user) for c in couriers}

    def post(courier: Courier):
        def call():
            url = f"/api/v1/courier/offers/{offers[courier.pk].pk}/accept/"
            response = clients[courier.pk].post(url)
            return courier.pk, response.status_code, response.json()

        return call

    results = race(*(post(c) for c in couriers))

    codes = Counter(status for _, status, _ in results)
    assert codes == {200: 1, 409: RACERS - 1}
    assert {body["code"] for _, status, body in results if status == 409} == {
        "offer_no_longer_available"
    }
    (winner_pk,) = [pk for pk, status, _ in results if status == 200]
    assert_one_winner(job, couriers, winner_pk)


@pytest.mark.parametrize("repetition", range(3))
def test_one_courier_accepting_two_jobs_at_once_gets_one(repetition: int, settings) -> None:
    settings.DISPATCH_MODE = "sequential"
    courier = courier_at(500)
    first, second = pending_job(), pending_job()
    # Dispatch offers one job at a time to a courier; make the second offer directly.
    (offer_one,) = dispatch_job(job_pk=first.pk).offers
    offer_two = Offer.objects.create(
        job=second, courier=courier, distance_m=500, expires_at=offer_one.expires_at
    )

    results = race(accept_as(courier, offer_one), accept_as(courier, offer_two))

    assert sorted(type(r).__name__ for r in results) == ["Offer", "OfferNoLongerAvailable"]
    active = Job.objects.filter(courier=courier, status__in=COURIER_ACTIVE_STATUSES)
    assert active.count() == 1
    assert Offer.objects.filter(courier=courier, status=OfferStatus.ACCEPTED).count() == 1
    other = second if active.get().pk == first.pk else first
    other.refresh_from_db()
    assert (other.status, other.courier_id) == ("pending", None)


def test_accept_and_decline_of_one_offer_at_once_take_effect_once() -> None:
    for _ in range(5):
        courier = courier_at(500)
        job = pending_job()
        (offer,) = dispatch_job(job_pk=job.pk).offers

        accepted, declined = race(
            accept_as(courier, offer),
            lambda c=courier, o=offer: offer_decline(offer_pk=o.pk, courier=c),
        )

        outcomes = (type(accepted).__name__, type(declined).__name__)
        assert outcomes in {
            ("Offer", "OfferNoLongerAvailable"),
            ("OfferNoLongerAvailable", "Offer"),
        }
        offer.refresh_from_db()
        job.refresh_from_db()
        if outcomes[0] == "Offer":
            assert (offer.status, job.status) == (OfferStatus.ACCEPTED, "assigned")
        else:
            assert (offer.status, job.status) == (OfferStatus.DECLINED, "pending")
        Courier.objects.filter(pk=courier.pk).update(status=CourierStatus.OFFLINE)


def test_duplicate_dispatch_tasks_at_once_offer_the_job_once(settings) -> None:
    settings.DISPATCH_MODE = "sequential"
    couriers = [courier_at(300 * (i + 1)) for i in range(5)]
    job = pending_job()

    results = race(*(lambda: dispatch_job(job_pk=job.pk) for _ in range(8)))

    outcomes = Counter(r.outcome for r in results)
    assert outcomes == {Outcome.OFFERED: 1, Outcome.WAITING: 7}
    assert list(Offer.objects.filter(job=job).values_list("courier_id", flat=True)) == [
        couriers[0].pk
    ]


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _waits_on(holder_pid: int) -> str | None:
    """The query of a backend blocked by ``holder_pid``'s locks, if one is."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT query FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
            [holder_pid],
        )
        row = cursor.fetchone()
    return row[0] if row else None


@pytest.mark.parametrize("repetition", range(3))
def test_a_pass_waiting_on_the_job_lock_reads_the_offers_its_holder_committed(
    repetition: int, settings
) -> None:
    """The lock and the history share one round trip, yet the history is read after the
    wait: the waiting pass sees the offer the holder made and offers nobody else."""
    settings.DISPATCH_MODE = "sequential"
    first, _second = courier_at(300), courier_at(600)
    job = pending_job()
    holder_done, waiter_seen = threading.Event(), threading.Event()
    holder_pid: list[int] = []

    def holder():
        # The pass's own transaction is a savepoint in this one: its lock and its offer
        # stay uncommitted until the other pass is seen waiting for the lock.
        with transaction.atomic():
            holder_pid.append(_backend_pid())
            result = dispatch_job(job_pk=job.pk)
            holder_done.set()
            if not waiter_seen.wait(30):
                raise TimeoutError("the second pass never waited for the job lock")
        return result

    def waiter():
        if not holder_done.wait(30):
            raise TimeoutError("the first pass did not finish")
        return dispatch_job(job_pk=job.pk)

    def watcher():
        if not holder_done.wait(30):
            raise TimeoutError("the first pass did not finish")
        deadline = time.monotonic() + 30
        while (query := _waits_on(holder_pid[0])) is None:
            if time.monotonic() > deadline:
                raise TimeoutError("no backend waited for the job lock")
            time.sleep(0.005)
        waiter_seen.set()
        return query

    held, waited, blocked_query = race(holder, waiter, watcher)

    assert isinstance(blocked_query, str), blocked_query
    assert (held.outcome, [o.courier_id for o in held.offers]) == (Outcome.OFFERED, [first.pk])
    assert not isinstance(waited, Exception), waited
    assert waited.outcome == Outcome.WAITING
    assert list(Offer.objects.filter(job=job).values_list("courier_id", "status")) == [
        (first.pk, OfferStatus.PENDING)
    ]
    # The blocked execute is the lock with the history behind it (pg_stat_activity keeps
    # only the first kilobyte of its text).
    assert 'FOR UPDATE OF "jobs_job"; ' in blocked_query


def test_two_jobs_dispatched_at_once_never_offer_one_courier_twice(settings) -> None:
    settings.DISPATCH_MODE = "sequential"
    for _ in range(5):
        courier = courier_at(500)
        jobs = [pending_job(), pending_job()]

        results = race(*(lambda j=j: dispatch_job(job_pk=j.pk) for j in jobs))

        assert sorted(r.outcome for r in results) == [Outcome.COURIERS_ENGAGED, Outcome.OFFERED]
        assert Offer.objects.filter(courier=courier, status=OfferStatus.PENDING).count() == 1
        for job in jobs:
            job.refresh_from_db()
            assert job.status == "pending"  # the other one waits; it does not give up
        Courier.objects.filter(pk=courier.pk).update(status=CourierStatus.OFFLINE)
