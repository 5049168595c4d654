"""Dispatch passes: candidates, rounds and radius widening, modes, expiry, the sweeper."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_q.models import Schedule

from couriers.models import Courier, CourierStatus
from jobs.dispatch import (
    OfferNoLongerAvailable,
    Outcome,
    dispatch_job,
    dispatch_job_task,
    offer_accept,
    offer_decline,
    offers_sweep,
    offers_withdraw_for_courier,
)
from jobs.dispatch.tasks import STUCK_AFTER
from jobs.lifecycle import job_transition
from jobs.models import DispatchMode, Job, JobEvent, JobStatus, Offer, OfferStatus
from marketplace.schedules import PERIODIC_TASKS, schedules_sync
from tests.factories import CourierFactory, ServiceZoneFactory
from tests.jobs.dispatch_helpers import courier_at, pending_job, tasks_run_inline

pytestmark = pytest.mark.django_db

OS = OfferStatus


@pytest.fixture(autouse=True)
def _dispatch_settings(settings) -> None:
    settings.DISPATCH_MODE = "sequential"
    settings.DISPATCH_RADII_M = [3000, 6000, 12000]
    settings.DISPATCH_CANDIDATES = 10
    settings.DISPATCH_BROADCAST_SIZE = 5
    settings.OFFER_TTL_SECONDS = 30
    settings.DISPATCH_RETRY_SECONDS = 5


def offers_of(job: Job) -> list[tuple[int, str, int]]:
    """(courier, status, round) of each offer of the job, oldest first."""
    return list(
        Offer.objects.filter(job=job)
        .order_by("created_at", "courier_id")
        .values_list("courier_id", "status", "dispatch_round")
    )


def make_overdue(job: Job) -> None:
    """Move the job's open offers' deadline into the past, as if 30 s had gone by."""
    Offer.objects.filter(job=job, status=OS.PENDING).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )


def rate(courier: Courier) -> float:
    courier.refresh_from_db()
    return courier.acceptance_rate


def test_offers_the_nearest_courier_with_a_deadline_and_records_the_mode() -> None:
    near, _far = courier_at(2000), courier_at(2500, bearing_deg=90)
    job = pending_job()
    before = timezone.now()

    result = dispatch_job(job_pk=job.pk)

    assert result.outcome == Outcome.OFFERED
    (offer,) = result.offers
    assert (offer.courier_id, offer.status, offer.dispatch_round) == (near.pk, OS.PENDING, 0)
    assert 1990 <= offer.distance_m <= 2010
    ttl = (offer.expires_at - before).total_seconds()
    assert 30 <= ttl < 31
    job.refresh_from_db()
    assert (job.status, job.dispatch_round, job.dispatch_mode) == ("pending", 0, "sequential")
    follow_up = Schedule.objects.get(name=f"dispatch follow-up {job.pk}")
    assert follow_up.func == "jobs.dispatch.dispatch_job_task"
    assert follow_up.args == repr(str(job.pk))
    assert follow_up.schedule_type == Schedule.ONCE
    assert follow_up.next_run == offer.expires_at + timedelta(seconds=1)


def test_decline_and_expiry_cascade_widens_the_radius_then_gives_up() -> None:
    at_2km, at_5km, at_10km = courier_at(2000), courier_at(5000), courier_at(10_000)
    job = pending_job()

    assert dispatch_job(job_pk=job.pk).outcome == Outcome.OFFERED
    assert offers_of(job) == [(at_2km.pk, OS.PENDING, 0)]

    offer_decline(offer_pk=Offer.objects.get(courier=at_2km).pk, courier=at_2km, reason="rain")
    assert dispatch_job(job_pk=job.pk).outcome == Outcome.OFFERED
    assert offers_of(job) == [(at_2km.pk, OS.DECLINED, 0), (at_5km.pk, OS.PENDING, 1)]
    assert Offer.objects.get(courier=at_2km).decline_reason == "rain"

    make_overdue(job)
    assert offers_sweep() == [job.pk]
    assert offers_of(job) == [
        (at_2km.pk, OS.DECLINED, 0),
        (at_5km.pk, OS.EXPIRED, 1),
        (at_10km.pk, OS.PENDING, 2),
    ]
    job.refresh_from_db()
    assert (job.status, job.dispatch_round) == ("pending", 2)

    offer_decline(offer_pk=Offer.objects.get(courier=at_10km).pk, courier=at_10km)
    result = dispatch_job(job_pk=job.pk)

    assert result.outcome == Outcome.UNASSIGNED
    job.refresh_from_db()
    assert (job.status, job.dispatch_round, job.courier_id) == ("unassigned", 3, None)
    event = JobEvent.objects.get(job=job, seq=job.last_event_seq)
    assert (event.from_status, event.to_status, event.actor_role) == (
        "pending",
        "unassigned",
        "system",
    )
    assert event.data == {"rounds": 3, "offers": 3}
    # Each non-accepted answer moved the acceptance rate 10 % of the way towards 0.
    assert [rate(c) for c in (at_2km, at_5km, at_10km)] == pytest.approx([0.9, 0.9, 0.9])


def test_no_courier_anywhere_makes_the_job_unassigned_at_once() -> None:
    courier_at(20_000)  # beyond the widest radius
    job = pending_job()

    assert dispatch_job(job_pk=job.pk).outcome == Outcome.UNASSIGNED
    job.refresh_from_db()
    assert (job.status, job.dispatch_round) == ("unassigned", 3)
    assert not Offer.objects.filter(job=job).exists()


def test_sequential_round_offers_each_nearby_courier_in_turn_before_widening(settings) -> None:
    settings.DISPATCH_CANDIDATES = 2
    first, second, third = courier_at(1000), courier_at(1500), courier_at(2000)
    wider = courier_at(4000)
    job = pending_job()

    for expected in (first, second):
        result = dispatch_job(job_pk=job.pk)
        assert [o.courier_id for o in result.offers] == [expected.pk]
        assert result.dispatch_round == 0
        make_overdue(job)
    # The round's budget (DISPATCH_CANDIDATES) is spent: the next round widens even though
    # `third` is inside 3 km; it is still the best candidate within 6 km.
    result = dispatch_job(job_pk=job.pk)
    assert [o.courier_id for o in result.offers] == [third.pk]
    assert result.dispatch_round == 1
    make_overdue(job)
    result = dispatch_job(job_pk=job.pk)
    assert [o.courier_id for o in result.offers] == [wider.pk]
    assert result.dispatch_round == 1


def test_broadcast_offers_a_wave_waits_for_all_answers_then_widens(settings) -> None:
    settings.DISPATCH_BROADCAST_SIZE = 2
    a, b, c = courier_at(500), courier_at(1000), courier_at(1500)
    d = courier_at(5000)
    job = pending_job(zone=ServiceZoneFactory(dispatch_mode=DispatchMode.BROADCAST))

    result = dispatch_job(job_pk=job.pk)
    assert result.outcome == Outcome.OFFERED
    assert sorted(o.courier_id for o in result.offers) == sorted([a.pk, b.pk])
    assert len({o.expires_at for o in result.offers}) == 1

    offer_decline(offer_pk=Offer.objects.get(courier=a).pk, courier=a)
    assert dispatch_job(job_pk=job.pk).outcome == Outcome.WAITING
    offer_decline(offer_pk=Offer.objects.get(courier=b).pk, courier=b)
    result = dispatch_job(job_pk=job.pk)

    assert result.outcome == Outcome.OFFERED
    assert result.dispatch_round == 1
    assert sorted(o.courier_id for o in result.offers) == sorted([c.pk, d.pk])
    job.refresh_from_db()
    assert job.dispatch_mode == "broadcast"


@pytest.mark.parametrize(
    ("job_mode", "zone_mode", "setting", "expected"),
    [
        ("", "", "sequential", "sequential"),
        ("", "", "broadcast", "broadcast"),
        ("", "broadcast", "sequential", "broadcast"),
        ("sequential", "broadcast", "broadcast", "sequential"),
    ],
)
def test_mode_comes_from_the_job_then_the_zone_then_the_setting(
    settings, job_mode: str, zone_mode: str, setting: str, expected: str
) -> None:
    settings.DISPATCH_MODE = setting
    settings.DISPATCH_BROADCAST_SIZE = 3
    for distance in (500, 1000, 1500):
        courier_at(distance)
    job = pending_job(dispatch_mode=job_mode, zone=ServiceZoneFactory(dispatch_mode=zone_mode))

    result = dispatch_job(job_pk=job.pk)

    assert len(result.offers) == (3 if expected == "broadcast" else 1)
    job.refresh_from_db()
    assert job.dispatch_mode == expected


def test_a_second_pass_while_offers_are_open_offers_nothing_more() -> None:
    courier_at(1000), courier_at(1500)
    job = pending_job()

    first = dispatch_job(job_pk=job.pk)
    again = dispatch_job_task(str(job.pk))

    assert first.outcome == Outcome.OFFERED
    assert again == Outcome.WAITING
    assert Offer.objects.filter(job=job).count() == 1
    assert Schedule.objects.filter(name=f"dispatch follow-up {job.pk}").count() == 1


def test_a_courier_with_an_open_offer_is_not_offered_another_job() -> None:
    busy_with_offer, other = courier_at(1000), courier_at(2500)
    first_job, second_job = pending_job(), pending_job()

    dispatch_job(job_pk=first_job.pk)
    result = dispatch_job(job_pk=second_job.pk)

    assert offers_of(first_job) == [(busy_with_offer.pk, OS.PENDING, 0)]
    assert [o.courier_id for o in result.offers] == [other.pk]


def test_job_waits_instead_of_giving_up_when_everyone_in_reach_holds_an_offer() -> None:
    only = courier_at(1000)
    first_job, second_job = pending_job(), pending_job()
    dispatch_job(job_pk=first_job.pk)

    result = dispatch_job(job_pk=second_job.pk)

    assert result.outcome == Outcome.COURIERS_ENGAGED
    second_job.refresh_from_db()
    assert (second_job.status, second_job.dispatch_round) == ("pending", 0)
    retry = Schedule.objects.get(name=f"dispatch follow-up {second_job.pk}")
    assert retry.next_run > timezone.now() + timedelta(seconds=3)

    # Once the courier turns the first job down, the second one reaches them.
    offer_decline(offer_pk=Offer.objects.get(job=first_job).pk, courier=only)
    assert [o.courier_id for o in dispatch_job(job_pk=second_job.pk).offers] == [only.pk]


def test_couriers_who_cannot_be_matched_are_never_offered() -> None:
    courier_at(500, status=CourierStatus.OFFLINE)
    courier_at(600, status=CourierStatus.BUSY)
    courier_at(700, is_position_trusted=False)
    courier_at(800, position_recorded_at=timezone.now() - timedelta(hours=1))
    courier_at(900, vehicle="bike", capacity="small")  # the package is large
    van = courier_at(2000, vehicle="van", capacity="xl")
    job = pending_job(package_size="large")

    assert [o.courier_id for o in dispatch_job(job_pk=job.pk).offers] == [van.pk]


def test_accept_assigns_the_job_and_withdraws_the_other_offers(settings) -> None:
    settings.DISPATCH_BROADCAST_SIZE = 3
    couriers = [courier_at(d) for d in (500, 1000, 1500)]
    job = pending_job(dispatch_mode="broadcast")
    dispatch_job(job_pk=job.pk)
    winner = couriers[1]
    offer = Offer.objects.get(job=job, courier=winner)

    accepted = offer_accept(offer_pk=offer.pk, courier=winner)

    assert (accepted.status, accepted.responded_at is not None) == (OS.ACCEPTED, True)
    job.refresh_from_db()
    assert (job.status, job.courier_id) == ("assigned", winner.pk)
    event = JobEvent.objects.get(job=job, seq=job.last_event_seq)
    assert (event.to_status, event.actor_id, event.courier_id) == (
        "assigned",
        winner.user_id,
        winner.pk,
    )
    statuses = dict(Offer.objects.filter(job=job).values_list("courier_id", "status"))
    assert statuses == {
        couriers[0].pk: OS.WITHDRAWN,
        winner.pk: OS.ACCEPTED,
        couriers[2].pk: OS.WITHDRAWN,
    }
    winner.refresh_from_db()
    assert (winner.status, winner.acceptance_rate) == (CourierStatus.BUSY, 1.0)
    assert [rate(c) for c in (couriers[0], couriers[2])] == [1.0, 1.0]  # not their fault
    # The follow-up pass finds the job assigned and does nothing.
    assert dispatch_job(job_pk=job.pk).outcome == Outcome.NOT_PENDING


def test_acceptance_rate_is_a_moving_average_of_answers() -> None:
    courier = courier_at(500)
    for _ in range(2):
        job = pending_job()
        dispatch_job(job_pk=job.pk)
        offer_decline(offer_pk=Offer.objects.get(job=job).pk, courier=courier)
    assert rate(courier) == pytest.approx(0.81)

    job = pending_job()
    dispatch_job(job_pk=job.pk)
    offer_accept(offer_pk=Offer.objects.get(job=job).pk, courier=courier)

    assert rate(courier) == pytest.approx(0.829)


def test_an_answer_after_the_deadline_is_refused_and_moves_the_job_on(
    django_capture_on_commit_callbacks,
) -> None:
    late, next_one = courier_at(1000), courier_at(2000)
    job = pending_job()
    dispatch_job(job_pk=job.pk)
    make_overdue(job)
    offer = Offer.objects.get(courier=late)

    with (
        tasks_run_inline(),
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(OfferNoLongerAvailable),
    ):
        offer_accept(offer_pk=offer.pk, courier=late)

    # The sweeper has not run, but the refused accept queued the job's pass at once.
    assert offers_of(job) == [(late.pk, OS.EXPIRED, 0), (next_one.pk, OS.PENDING, 0)]
    late.refresh_from_db()
    assert late.status == CourierStatus.AVAILABLE
    job.refresh_from_db()
    assert (job.status, job.courier_id) == ("pending", None)


def test_decline_queues_the_next_pass_on_commit(django_capture_on_commit_callbacks) -> None:
    first, second = courier_at(1000), courier_at(2000)
    job = pending_job()
    dispatch_job(job_pk=job.pk)

    with tasks_run_inline(), django_capture_on_commit_callbacks(execute=True):
        offer_decline(offer_pk=Offer.objects.get(courier=first).pk, courier=first)

    assert offers_of(job) == [(first.pk, OS.DECLINED, 0), (second.pk, OS.PENDING, 0)]


@pytest.mark.parametrize("first", ["accept", "decline", "withdrawn", "expired"])
@pytest.mark.parametrize("then", ["accept", "decline"])
def test_an_offer_is_answered_at_most_once(first: str, then: str) -> None:
    courier = courier_at(1000)
    job = pending_job()
    dispatch_job(job_pk=job.pk)
    offer = Offer.objects.get(job=job)
    if first == "accept":
        offer_accept(offer_pk=offer.pk, courier=courier)
    elif first == "decline":
        offer_decline(offer_pk=offer.pk, courier=courier)
    elif first == "withdrawn":
        offers_withdraw_for_courier(courier=courier)
    else:
        make_overdue(job)
        dispatch_job(job_pk=job.pk)
    offer.refresh_from_db()
    status_before = offer.status
    job.refresh_from_db()
    job_before = (job.status, job.courier_id, job.last_event_seq)

    answer = offer_accept if then == "accept" else offer_decline
    with pytest.raises(OfferNoLongerAvailable):
        answer(offer_pk=offer.pk, courier=courier)

    offer.refresh_from_db()
    assert offer.status == status_before
    job.refresh_from_db()
    assert (job.status, job.courier_id, job.last_event_seq) == job_before


def test_a_courier_on_another_job_cannot_accept() -> None:
    courier = courier_at(1000)
    job = pending_job()
    dispatch_job(job_pk=job.pk)
    offer = Offer.objects.get(job=job)
    other_job = pending_job()
    job_transition(job=other_job, to=JobStatus.ASSIGNED, actor=None, courier=courier)

    with pytest.raises(OfferNoLongerAvailable):
        offer_accept(offer_pk=offer.pk, courier=courier)

    job.refresh_from_db()
    offer.refresh_from_db()
    assert (job.status, offer.status) == ("pending", OS.PENDING)


def test_an_offline_courier_cannot_accept_until_back_online() -> None:
    courier = courier_at(1000)
    job = pending_job()
    dispatch_job(job_pk=job.pk)
    offer = Offer.objects.get(job=job)
    Courier.objects.filter(pk=courier.pk).update(status=CourierStatus.OFFLINE)

    with pytest.raises(OfferNoLongerAvailable):
        offer_accept(offer_pk=offer.pk, courier=courier)
    offer.refresh_from_db()
    assert offer.status == OS.PENDING

    Courier.objects.filter(pk=courier.pk).update(status=CourierStatus.AVAILABLE)
    assert offer_accept(offer_pk=offer.pk, courier=courier).status == OS.ACCEPTED


def test_going_offline_withdraws_open_offers_and_moves_their_jobs_on(
    django_capture_on_commit_callbacks,
) -> None:
    leaving, staying = courier_at(1000), courier_at(2000)
    job = pending_job()
    dispatch_job(job_pk=job.pk)

    with tasks_run_inline(), django_capture_on_commit_callbacks(execute=True):
        withdrawn = offers_withdraw_for_courier(courier=leaving)

    assert withdrawn == [Offer.objects.get(courier=leaving).pk]
    assert offers_of(job) == [(leaving.pk, OS.WITHDRAWN, 0), (staying.pk, OS.PENDING, 0)]
    assert rate(leaving) == 1.0


def test_a_cancelled_job_withdraws_its_open_offers_on_the_next_pass() -> None:
    courier = courier_at(1000)
    job = pending_job()
    dispatch_job(job_pk=job.pk)
    job_transition(job=job, to=JobStatus.CANCELLED, actor=None)

    assert dispatch_job(job_pk=job.pk).outcome == Outcome.NOT_PENDING
    assert offers_of(job) == [(courier.pk, OS.WITHDRAWN, 0)]


def test_a_dropped_job_goes_to_someone_new() -> None:
    dropper, next_one = courier_at(1000), courier_at(2000)
    job = pending_job()
    dispatch_job(job_pk=job.pk)
    offer_accept(offer_pk=Offer.objects.get(courier=dropper).pk, courier=dropper)
    job_transition(job=job, to=JobStatus.PENDING, actor=dropper.user, reason="flat tyre")

    result = dispatch_job(job_pk=job.pk)

    assert [o.courier_id for o in result.offers] == [next_one.pk]
    assert Offer.objects.get(courier=dropper).status == OS.WITHDRAWN
    offer_accept(offer_pk=result.offers[0].pk, courier=next_one)
    job.refresh_from_db()
    assert (job.status, job.courier_id) == ("assigned", next_one.pk)


def test_a_reposted_job_starts_again_at_the_first_radius_nearest_first(settings) -> None:
    settings.DISPATCH_RADII_M = [3000, 6000]
    first = courier_at(1000)
    job = pending_job()
    dispatch_job(job_pk=job.pk)
    offer_decline(offer_pk=Offer.objects.get(courier=first).pk, courier=first)
    assert dispatch_job(job_pk=job.pk).outcome == Outcome.UNASSIGNED
    newcomer = courier_at(1500)

    job_transition(job=job, to=JobStatus.PENDING, actor=None, reason="re-posted")
    result = dispatch_job(job_pk=job.pk)

    assert [o.courier_id for o in result.offers] == [first.pk]
    assert result.dispatch_round == 0
    offer_decline(offer_pk=result.offers[0].pk, courier=first)
    assert [o.courier_id for o in dispatch_job(job_pk=job.pk).offers] == [newcomer.pk]


def test_a_reposted_job_is_offered_again_to_a_courier_offered_before(settings) -> None:
    settings.DISPATCH_RADII_M = [3000]
    idle = courier_at(500)
    job = pending_job()
    dispatch_job(job_pk=job.pk)
    make_overdue(job)  # the courier did not answer in time
    assert dispatch_job(job_pk=job.pk).outcome == Outcome.UNASSIGNED

    job_transition(job=job, to=JobStatus.PENDING, actor=None, reason="re-posted")
    result = dispatch_job(job_pk=job.pk)

    assert result.outcome == Outcome.OFFERED
    assert [o.courier_id for o in result.offers] == [idle.pk]
    job.refresh_from_db()
    assert (job.status, job.dispatch_attempt) == ("pending", 2)
    assert list(
        Offer.objects.filter(job=job)
        .order_by("dispatch_attempt")
        .values_list("courier_id", "status", "dispatch_attempt")
    ) == [(idle.pk, OS.EXPIRED, 1), (idle.pk, OS.PENDING, 2)]


def test_within_one_attempt_a_courier_sees_the_job_once(settings) -> None:
    settings.DISPATCH_RADII_M = [3000, 6000]
    decliner = courier_at(500)
    job = pending_job()
    dispatch_job(job_pk=job.pk)
    offer_decline(offer_pk=Offer.objects.get(courier=decliner).pk, courier=decliner)

    # The radius widens and finds the same courier again: skipped in this attempt.
    assert dispatch_job(job_pk=job.pk).outcome == Outcome.UNASSIGNED
    assert offers_of(job) == [(decliner.pk, OS.DECLINED, 0)]


def test_the_database_allows_one_offer_per_courier_per_attempt() -> None:
    courier = courier_at(500)
    job = pending_job()
    deadline = timezone.now() + timedelta(seconds=30)
    Offer.objects.create(
        job=job, courier=courier, distance_m=500, expires_at=deadline, status=OS.DECLINED
    )
    Offer.objects.create(
        job=job, courier=courier, distance_m=500, expires_at=deadline, dispatch_attempt=2
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        Offer.objects.create(
            job=job, courier=courier, distance_m=500, expires_at=deadline, dispatch_attempt=2
        )
    assert Offer.objects.filter(job=job).count() == 2


def test_a_dropped_job_can_go_back_to_a_courier_who_declined_it_before() -> None:
    decliner, dropper = courier_at(1000), courier_at(2000)
    job = pending_job()
    dispatch_job(job_pk=job.pk)
    offer_decline(offer_pk=Offer.objects.get(courier=decliner).pk, courier=decliner)
    dispatch_job(job_pk=job.pk)
    offer_accept(offer_pk=Offer.objects.get(courier=dropper).pk, courier=dropper)
    job_transition(job=job, to=JobStatus.PENDING, actor=dropper.user, reason="flat tyre")

    result = dispatch_job(job_pk=job.pk)

    # A new attempt: the decliner may be asked again; the dropper is not.
    assert [o.courier_id for o in result.offers] == [decliner.pk]
    assert result.offers[0].dispatch_attempt == 2
    make_overdue(job)
    assert dispatch_job(job_pk=job.pk).outcome == Outcome.UNASSIGNED


def test_sweeper_redrives_overdue_offers_and_lost_tasks_but_not_fresh_jobs() -> None:
    a, b, c = courier_at(1000), courier_at(1500, bearing_deg=90), courier_at(2000)
    overdue = pending_job()
    dispatch_job(job_pk=overdue.pk)  # to a
    open_offer = pending_job()
    dispatch_job(job_pk=open_offer.pk)  # to b, still open
    make_overdue(overdue)
    lost = pending_job()  # its dispatch task never ran
    Job.objects.filter(pk=lost.pk).update(updated_at=timezone.now() - STUCK_AFTER)
    fresh = pending_job()  # its task is about to run

    swept = offers_sweep()

    assert swept == [overdue.pk, lost.pk]
    assert offers_of(overdue) == [(a.pk, OS.EXPIRED, 0), (c.pk, OS.PENDING, 0)]
    assert offers_of(lost) == [(a.pk, OS.PENDING, 0)]  # free again once its offer expired
    assert offers_of(open_offer) == [(b.pk, OS.PENDING, 0)]
    assert offers_of(fresh) == []


def test_the_sweeper_is_scheduled_every_minute() -> None:
    (task,) = [t for t in PERIODIC_TASKS if t.func == "jobs.dispatch.offers_sweep_task"]
    assert task.minutes == 1

    schedules_sync()

    schedule = Schedule.objects.get(name=task.name)
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "jobs.dispatch.offers_sweep_task",
        Schedule.MINUTES,
        1,
        -1,
    )


def test_dispatch_of_an_unknown_job_does_nothing() -> None:
    CourierFactory()
    assert dispatch_job_task("00000000-0000-0000-0000-000000000000") == Outcome.MISSING


def test_a_first_pass_costs_a_fixed_number_of_queries(django_assert_num_queries) -> None:
    for distance in (500, 1000, 1500):
        courier_at(distance)
    job = pending_job()

    # Savepoint, job lock and the job's offers (one execute: Django counts executes, and
    # each is one round trip), selector and courier locks, engaged check, one statement
    # inserting the offers, saving the job and the follow-up schedule, release.
    with django_assert_num_queries(6):
        result = dispatch_job(job_pk=job.pk)

    assert result.outcome == Outcome.OFFERED
