"""Dispatch passes: offer a pending job to the next courier(s), widen the radius, give up.

A pass runs with the job row locked, so duplicate or concurrent passes for one job queue
behind each other and the second finds the offers the first made (and does nothing while
they are open). Each round searches ``DISPATCH_RADII_M[job.dispatch_round]`` around the
pickup. A round offers at most ``DISPATCH_CANDIDATES`` couriers one after another
(sequential mode) or one wave of the top ``DISPATCH_BROADCAST_SIZE`` at once, first accept
wins (broadcast mode); then, or as soon as nobody is left within its radius, the next
round widens the radius. After the last round the job becomes ``unassigned``, unless
couriers were in reach but all engaged with other offers: then the job keeps its round and
waits, and a follow-up pass runs ``DISPATCH_RETRY_SECONDS`` later.

A courier holds at most one open offer at a time: a pass skips couriers with an open
offer for another job, and two passes never offer the same courier at once (each takes a
transaction-level advisory lock per courier with ``pg_try_advisory_xact_lock`` and skips
couriers another pass holds, so passes never wait on each other and cannot deadlock).
A courier is offered a job at most once per dispatch attempt (the (job, courier, attempt)
constraint). Each time the job re-enters pending (a repost, a courier's drop) a new
attempt starts, in which couriers offered it before may be offered it again.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django_q.models import Schedule

from couriers.selectors import RankedCourier, couriers_ranked_for_pickup
from jobs.dispatch.offers import DISPATCH_TASK, offers_expire, offers_withdraw
from jobs.dispatch.payloads import WithdrawReason, offer_frame, send_to_couriers_on_commit
from jobs.lifecycle import job_transition
from jobs.models import DispatchMode, Job, JobStatus, Offer, OfferStatus
from jobs.sandbox.queue import robo_walk_queue_on_commit
from marketplace.sqlcache import (
    SAMPLE_DATETIME,
    SAMPLE_INTS,
    SAMPLE_UUID,
    CompiledQuery,
    rows_in_one_round_trip,
)
from marketplace.sqlcompose import insert_sql, mark_saved, update_sql

logger = logging.getLogger(__name__)

# First key of the two-int advisory locks that reserve a courier while a pass offers them
# a job (the second is the courier's id).
COURIER_OFFER_LOCK = 7_301
# The expiry follow-up runs this long after the deadline, so the offer is surely overdue.
EXPIRY_FOLLOW_UP_DELAY = timedelta(seconds=1)
# How often a pass asks the selector again when every candidate it got is engaged.
_CANDIDATE_FETCHES = 3


class Outcome:
    OFFERED = "offered"
    WAITING = "waiting"  # open offers: wait for answers or their deadline
    COURIERS_ENGAGED = "couriers_engaged"  # couriers in reach all hold other offers: retry
    UNASSIGNED = "unassigned"
    NOT_PENDING = "not_pending"
    MISSING = "missing"
    SANDBOX = "sandbox"  # the built-in robo courier's job: offered to nobody else


# What a pass reads of its job, shop and zone: its own fields, the offer frame's, and what
# a move to unassigned writes and sends (the event, the shop's frame and webhook, the
# tracking state). Anything else is loaded on first use, one query per field.
PASS_JOB_FIELDS = (
    "status", "dispatch_mode", "dispatch_round", "dispatch_attempt", "last_event_seq",
    "courier", "external_ref", "test_specifications", "package_size", "currency",
    "distance_m", "courier_payout_minor", "tip_minor", "pickup_address", "pickup_point",
    "pickup_after", "dropoff_address", "dropoff_point", "deliver_before",
    "zone__dispatch_mode", "shop__is_sandbox", "shop__webhook_url",
)  # fmt: skip

# The pass's job lock (of=self: not the shop's or the zone's row).
PASS_JOB_LOCK = CompiledQuery(
    lambda job_pk: (
        Job.objects.select_for_update(of=("self",))
        .select_related("zone", "shop")
        .only(*PASS_JOB_FIELDS)
        .filter(pk=job_pk)
    ),
    job_pk=SAMPLE_UUID,
)
# Every offer of the job, read once: (courier, status, round, attempt, deadline, answered).
PASS_OFFER_HISTORY = CompiledQuery(
    lambda job_pk: Offer.objects.filter(job_id=job_pk).values_list(
        "courier_id", "status", "dispatch_round", "dispatch_attempt", "expires_at", "responded_at"
    ),
    job_pk=SAMPLE_UUID,
)
# Which of these couriers hold an open offer (an array parameter: one text for any count).
PASS_ENGAGED = CompiledQuery(
    lambda courier_pks, now: Offer.objects.filter(
        courier_id__in=RawSQL("SELECT unnest(%s::bigint[])", (courier_pks,)),
        status=OfferStatus.PENDING,
        expires_at__gt=now,
    ).values_list("courier_id", flat=True),
    courier_pks=SAMPLE_INTS,
    now=SAMPLE_DATETIME,
)


@dataclass
class DispatchResult:
    outcome: str
    dispatch_round: int = 0
    offers: list[Offer] = field(default_factory=list)
    expired: list[UUID] = field(default_factory=list)


def dispatch_mode_for(job: Job) -> DispatchMode:
    """The job's own mode if set, else its zone's, else the DISPATCH_MODE setting."""
    return DispatchMode(job.dispatch_mode or job.zone.dispatch_mode or settings.DISPATCH_MODE)


def dispatch_job(*, job_pk: UUID | str) -> DispatchResult:
    """One dispatch pass for a job; idempotent, safe to run any number of times at once.

    Locks the job row. A job that left ``pending`` gets its open offers withdrawn and
    nothing else. Otherwise overdue offers expire; while any offer is still open the pass
    waits; else it offers the job to the next courier(s), or makes it ``unassigned`` when
    the last round found nobody.
    """
    now = timezone.now()
    job_pk = job_pk if isinstance(job_pk, UUID) else UUID(str(job_pk))
    with transaction.atomic():
        # The lock and the history in one round trip, as two statements: the history's
        # snapshot is taken once the lock is won, so it holds every offer a pass that held
        # the lock before committed (one statement would read them from before the wait).
        locked, history = rows_in_one_round_trip(
            (PASS_JOB_LOCK, {"job_pk": job_pk}), (PASS_OFFER_HISTORY, {"job_pk": job_pk})
        )
        if not locked:
            return DispatchResult(Outcome.MISSING)
        job = locked[0]
        offers = Offer.objects.filter(job=job)
        if job.status != JobStatus.PENDING:
            offers_withdraw(offers, reason=WithdrawReason.JOB_UNAVAILABLE)
            return DispatchResult(Outcome.NOT_PENDING, job.dispatch_round)
        expired: list[UUID] = []
        if any(status == OfferStatus.PENDING and due <= now for _, status, _, _, due, _ in history):
            expired = offers_expire(offers, now=now)
        if any(status == OfferStatus.PENDING and due > now for _, status, _, _, due, _ in history):
            return DispatchResult(Outcome.WAITING, job.dispatch_round, expired=expired)
        if any(status == OfferStatus.ACCEPTED for _, status, *_ in history):
            # A courier who dropped the job kept an accepted offer; it no longer stands.
            offers.filter(status=OfferStatus.ACCEPTED).update(status=OfferStatus.WITHDRAWN)
        if robo_walk_queue_on_commit(job=job):
            return DispatchResult(Outcome.SANDBOX, job.dispatch_round, expired=expired)

        mode = dispatch_mode_for(job)
        first_round = job.dispatch_round
        this_attempt = [row for row in history if row[3] == job.dispatch_attempt]
        # Whoever accepted the job before (and dropped it) is not offered it again.
        dropped_by = {
            courier_pk
            for courier_pk, status, _, _, _, answered_at in history
            if status == OfferStatus.ACCEPTED
            or (status == OfferStatus.WITHDRAWN and answered_at is not None)
        }
        made, saw_engaged = _offer_next(
            job, mode=mode, now=now, history=this_attempt, excluded=dropped_by
        )
        if made:
            job.dispatch_mode = mode
            _offers_write(job, made, now=now)
            _announce(job, made)
            return DispatchResult(Outcome.OFFERED, job.dispatch_round, made, expired)
        if saw_engaged:
            job.dispatch_round = first_round
            _follow_up(job, at=now + timedelta(seconds=settings.DISPATCH_RETRY_SECONDS))
            return DispatchResult(Outcome.COURIERS_ENGAGED, first_round, expired=expired)

        rounds = len(settings.DISPATCH_RADII_M)
        job_transition(
            job=job,
            to=JobStatus.UNASSIGNED,
            actor=None,
            reason="No courier accepted the job.",
            data={"rounds": rounds, "offers": len(this_attempt)},
            changes={"dispatch_round": job.dispatch_round, "dispatch_mode": mode},
            is_locked=True,
        )
        return DispatchResult(Outcome.UNASSIGNED, job.dispatch_round, expired=expired)


def _offer_next(
    job: Job, *, mode: DispatchMode, now: datetime, history: list[tuple], excluded: set[int]
) -> tuple[list[Offer], bool]:
    """Create the next offers, advancing ``job.dispatch_round`` past exhausted rounds.

    ``history`` is the offers of the job's current dispatch attempt, as read at the start
    of the pass. Returns the new offers and whether any courier in reach was skipped as
    engaged. ``excluded`` couriers are never chosen.
    """
    radii = settings.DISPATCH_RADII_M
    is_sequential = mode == DispatchMode.SEQUENTIAL
    per_round = settings.DISPATCH_CANDIDATES if is_sequential else settings.DISPATCH_BROADCAST_SIZE
    offered = {courier_pk for courier_pk, *_ in history} | excluded
    made_in_round = Counter(dispatch_round for _, _, dispatch_round, *_ in history)
    saw_engaged = False
    while job.dispatch_round < len(radii):
        left = per_round - made_in_round.get(job.dispatch_round, 0)
        if left > 0:
            chosen, engaged = _reserve_candidates(
                job,
                radius_m=radii[job.dispatch_round],
                wanted=1 if is_sequential else left,
                exclude_pks=offered,
                now=now,
            )
            saw_engaged = saw_engaged or engaged
            if chosen:
                expires_at = now + timedelta(seconds=settings.OFFER_TTL_SECONDS)
                made = [
                    Offer(
                        job=job,
                        courier=ranked.courier,
                        dispatch_round=job.dispatch_round,
                        dispatch_attempt=job.dispatch_attempt,
                        distance_m=round(ranked.distance_m),
                        score=ranked.score,
                        expires_at=expires_at,
                    )
                    for ranked in chosen
                ]
                return made, saw_engaged
        job.dispatch_round += 1
    return [], saw_engaged


def _reserve_candidates(
    job: Job, *, radius_m: float, wanted: int, exclude_pks: Collection[int], now: datetime
) -> tuple[list[RankedCourier], bool]:
    """The best ``wanted`` matchable couriers within ``radius_m`` who are free to be offered.

    Free: no open offer for another job, and no other pass offering them right now (the
    advisory lock, held until this transaction ends, also covers the offer insert).
    Also says whether any courier in reach was skipped as engaged.
    """
    saw_engaged = False
    excluded = set(exclude_pks)
    limit = max(settings.DISPATCH_CANDIDATES, wanted)
    for _ in range(_CANDIDATE_FETCHES):
        ranked = couriers_ranked_for_pickup(
            point=job.pickup_point,
            radius_m=radius_m,
            package_size=job.package_size,
            sandbox=job.shop.is_sandbox,
            limit=limit,
            exclude_pks=excluded,
            lock_key=COURIER_OFFER_LOCK,
        )
        if not ranked:
            return [], saw_engaged
        # The engaged check is its own statement, after the locks were taken: it must see
        # an offer that a pass holding one of them committed meanwhile.
        reserved = {r.courier.pk for r in ranked if r.courier.is_reserved}
        engaged = set(PASS_ENGAGED.rows(courier_pks=sorted(reserved), now=now))
        free = [r for r in ranked if r.courier.pk in reserved and r.courier.pk not in engaged]
        saw_engaged = saw_engaged or len(free) < len(ranked)
        if free or len(ranked) < limit:
            return free[:wanted], saw_engaged
        excluded.update(r.courier.pk for r in ranked)
    return [], saw_engaged


def _announce(job: Job, offers: list[Offer]) -> None:
    """Send each courier their offer on commit."""
    send_to_couriers_on_commit((offer.courier_id, offer_frame(offer, job)) for offer in offers)


def _offers_write(job: Job, offers: list[Offer], *, now: datetime) -> None:
    """Insert the new offers, save the job's round and mode, and schedule the pass after
    the deadline (``_follow_up``), in one statement: three writes, one round trip.

    Each part is the SQL Django compiles for the same ``bulk_create``, ``save`` and
    ``create`` (data-modifying CTEs, so the offer constraints hold as before).
    """
    connection_alias = transaction.get_connection().alias
    offers_sql, offers_params = insert_sql(Offer, offers, alias=connection_alias)
    job_sql, job_params = update_sql(
        job, ("dispatch_round", "dispatch_mode", "updated_at"), alias=connection_alias
    )
    follow_up = _follow_up_schedule(
        job, at=max(o.expires_at for o in offers) + EXPIRY_FOLLOW_UP_DELAY
    )
    schedule_sql, schedule_params = insert_sql(Schedule, [follow_up], alias=connection_alias)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH new_offers AS ({offers_sql}), job_saved AS ({job_sql}) {schedule_sql}",
            [*offers_params, *job_params, *schedule_params],
        )
    mark_saved(offers, alias=connection_alias)


def _follow_up(job: Job, *, at: datetime) -> None:
    """A dispatch pass for ``job`` at ``at``, as a django-q2 ``ONCE`` schedule.

    A database row, so it survives worker restarts; the cluster's scheduler checks for due
    schedules every ~30 s, and deletes the row once it has queued the task.
    """
    _follow_up_schedule(job, at=at).save(force_insert=True)


def _follow_up_schedule(job: Job, *, at: datetime) -> Schedule:
    return Schedule(
        name=f"dispatch follow-up {job.pk}",
        func=DISPATCH_TASK,
        args=repr(str(job.pk)),
        schedule_type=Schedule.ONCE,
        repeats=-1,
        next_run=at,
    )
