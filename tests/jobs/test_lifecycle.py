"""The job state machine: the transitions table, job_transition, and races on it."""

from __future__ import annotations

from itertools import product

import pytest

from couriers.models import CourierStatus
from jobs.lifecycle import TRANSITIONS, job_transition
from jobs.models import COURIER_ACTIVE_STATUSES, Job, JobEvent, JobStatus
from marketplace.api.errors import InvalidTransition
from tests.concurrency import race
from tests.factories import CourierFactory, JobFactory

S = JobStatus

# The moves docs/architecture.md draws, written out independently of jobs.lifecycle.TRANSITIONS.
EXPECTED_MOVES = {
    (S.SCHEDULED, S.PENDING),
    (S.SCHEDULED, S.CANCELLED),
    # The recipient reschedules before pickup.
    (S.SCHEDULED, S.SCHEDULED),
    (S.PENDING, S.SCHEDULED),
    (S.UNASSIGNED, S.SCHEDULED),
    (S.ASSIGNED, S.SCHEDULED),
    (S.AT_PICKUP, S.SCHEDULED),
    (S.PENDING, S.ASSIGNED),
    (S.PENDING, S.UNASSIGNED),
    (S.PENDING, S.CANCELLED),
    (S.UNASSIGNED, S.PENDING),
    (S.UNASSIGNED, S.CANCELLED),
    (S.ASSIGNED, S.AT_PICKUP),
    (S.ASSIGNED, S.PENDING),
    (S.ASSIGNED, S.CANCELLED),
    (S.AT_PICKUP, S.PICKED_UP),
    (S.AT_PICKUP, S.PENDING),
    (S.AT_PICKUP, S.CANCELLED),
    (S.PICKED_UP, S.AT_DROPOFF),
    (S.PICKED_UP, S.FAILED),
    (S.AT_DROPOFF, S.DELIVERED),
    (S.AT_DROPOFF, S.FAILED),
    (S.FAILED, S.RETURNING),
    (S.RETURNING, S.RETURNED),
}


def test_table_has_exactly_the_designed_moves() -> None:
    table = {(src, dst) for src, targets in TRANSITIONS.items() for dst in targets}
    assert table == EXPECTED_MOVES
    assert set(TRANSITIONS) == set(JobStatus)


def make_job_in(status: JobStatus) -> Job:
    courier = CourierFactory() if status in COURIER_ACTIVE_STATUSES else None
    return JobFactory(status=status, courier=courier)


@pytest.mark.parametrize(("src", "dst"), list(product(JobStatus, JobStatus)))
def test_every_pair_is_allowed_or_refused_with_nothing_changed(
    db: None, src: JobStatus, dst: JobStatus
) -> None:
    job = make_job_in(src)
    courier = job.courier or CourierFactory()
    if (src, dst) in EXPECTED_MOVES:
        saved, event = job_transition(job=job, to=dst, actor=None, courier=courier)
        saved.refresh_from_db()
        assert saved.status == dst
        assert (event.seq, event.from_status, event.to_status) == (1, src, dst)
        assert event.actor_role == "system"
    else:
        with pytest.raises(InvalidTransition):
            job_transition(job=job, to=dst, actor=None, courier=courier)
        job.refresh_from_db()
        assert job.status == src
        assert job.last_event_seq == 0
        assert not JobEvent.objects.filter(job=job).exists()


def test_assign_sets_courier_and_drop_clears_it(db: None) -> None:
    job = JobFactory()
    courier = CourierFactory(status=CourierStatus.AVAILABLE)
    job, _ = job_transition(job=job, to=S.ASSIGNED, actor=courier.user, courier=courier)
    assert (job.courier_id, job.assigned_at is not None) == (courier.pk, True)
    courier.refresh_from_db()
    assert courier.status == CourierStatus.BUSY
    job, event = job_transition(job=job, to=S.PENDING, actor=courier.user, reason="flat tyre")
    job.refresh_from_db()
    courier.refresh_from_db()
    assert job.courier_id is None
    assert courier.status == CourierStatus.AVAILABLE
    assert (event.seq, event.actor_role, event.courier_id, event.reason) == (
        2,
        "courier",
        courier.pk,
        "flat tyre",
    )


def test_courier_who_went_offline_stays_offline_when_the_job_ends(db: None) -> None:
    job = make_job_in(S.AT_DROPOFF)
    job.courier.status = CourierStatus.OFFLINE
    job.courier.save(update_fields=["status"])
    job_transition(job=job, to=S.DELIVERED, actor=None)
    job.courier.refresh_from_db()
    assert job.courier.status == CourierStatus.OFFLINE


def test_expected_from_narrows_the_table(db: None) -> None:
    job = make_job_in(S.ASSIGNED)
    with pytest.raises(InvalidTransition):
        job_transition(job=job, to=S.CANCELLED, actor=None, expected_from=frozenset({S.PENDING}))
    job.refresh_from_db()
    assert job.status == S.ASSIGNED


@pytest.mark.django_db(transaction=True)
def test_cancel_racing_pickup_has_exactly_one_winner() -> None:
    for _ in range(10):
        job = make_job_in(S.AT_PICKUP)
        cancel, pickup = race(
            lambda pk=job.pk: job_transition(job=pk, to=S.CANCELLED, actor=None),
            lambda pk=job.pk: job_transition(job=pk, to=S.PICKED_UP, actor=None),
        )
        winners = [r for r in (cancel, pickup) if not isinstance(r, Exception)]
        losers = [r for r in (cancel, pickup) if isinstance(r, InvalidTransition)]
        assert (len(winners), len(losers)) == (1, 1)
        job.refresh_from_db()
        assert job.status == winners[0][0].status
        events = list(JobEvent.objects.filter(job=job).values_list("seq", "to_status"))
        assert events == [(1, job.status)]
