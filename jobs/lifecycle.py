"""The job state machine: one table of allowed moves and the one service that makes them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from django.contrib.gis.geos import Point
from django.db import connection, transaction
from django.utils import timezone
from django_q.tasks import async_task

from couriers.models import Courier
from couriers.services import courier_job_assign, courier_job_release
from jobs.hooks import hook_run
from jobs.models import (
    COURIER_ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    ActorRole,
    EventKind,
    Job,
    JobEvent,
    JobStatus,
)
from marketplace.api.errors import InvalidTransition
from marketplace.models import Role, User
from marketplace.realtime.broadcast import send_on_commit
from marketplace.realtime.groups import courier_group, job_group, shop_group
from marketplace.sqlcompose import insert_sql, mark_saved, update_sql

S = JobStatus

# from-status -> the statuses it may move to. Nothing else changes Job.status.
# Back to scheduled: the recipient rescheduled before pickup (a scheduled job may be
# rescheduled again); the existing schedule releases it.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    S.SCHEDULED: frozenset({S.PENDING, S.CANCELLED, S.SCHEDULED}),
    S.PENDING: frozenset({S.ASSIGNED, S.UNASSIGNED, S.CANCELLED, S.SCHEDULED}),
    # A shop may re-post a job nobody took; it goes back through dispatch.
    S.UNASSIGNED: frozenset({S.PENDING, S.CANCELLED, S.SCHEDULED}),
    # Back to pending: the courier dropped the job before pickup.
    S.ASSIGNED: frozenset({S.AT_PICKUP, S.PENDING, S.CANCELLED, S.SCHEDULED}),
    S.AT_PICKUP: frozenset({S.PICKED_UP, S.PENDING, S.CANCELLED, S.SCHEDULED}),
    S.PICKED_UP: frozenset({S.AT_DROPOFF, S.FAILED}),
    S.AT_DROPOFF: frozenset({S.DELIVERED, S.FAILED}),
    S.FAILED: frozenset({S.RETURNING}),
    S.RETURNING: frozenset({S.RETURNED}),
    S.DELIVERED: frozenset(),
    S.RETURNED: frozenset(),
    S.CANCELLED: frozenset(),
}

# Timestamps stamped when a job enters a status.
_STAMPS = {
    S.ASSIGNED: "assigned_at",
    S.PICKED_UP: "picked_up_at",
    S.DELIVERED: "delivered_at",
    S.CANCELLED: "cancelled_at",
}

_ROLE_TO_ACTOR = {
    Role.SHOP: ActorRole.SHOP,
    Role.COURIER: ActorRole.COURIER,
    Role.STAFF: ActorRole.STAFF,
}


def job_transition(
    *,
    job: Job | UUID | str,
    to: JobStatus,
    actor: User | None,
    courier: Courier | None = None,
    point: Point | None = None,
    reason: str = "",
    data: Mapping[str, Any] | None = None,
    changes: Mapping[str, Any] | None = None,
    expected_from: frozenset[JobStatus] | None = None,
    actor_role: ActorRole | None = None,
    kind: EventKind = EventKind.STATUS,
    is_locked: bool = False,
    courier_is_busy: bool = False,
) -> tuple[Job, JobEvent]:
    """Move a job to ``to``, record who did it, and queue the side effects on commit.

    Locks the job row (``SELECT … FOR UPDATE``) inside its own atomic block, so callers
    may but need not hold the lock already. ``courier`` is required when assigning.
    ``changes`` are extra job fields saved in the same write (e.g. a cancellation fee).
    ``expected_from`` narrows the legal from-statuses for this caller (a shop's cancel
    refuses a picked-up job even where the table allows other moves). ``actor_role``
    names an actor without an account (the recipient); ``kind`` labels the event when
    the move is part of something bigger (a reschedule).

    ``is_locked=True`` says ``job`` is the row the caller's transaction already locked
    (``select_for_update``), with no unsaved change but what ``changes`` also names: it
    is moved as it is, without a re-read or a savepoint of its own (three round trips
    less), so any error raised here,
    ``InvalidTransition`` included, must end the caller's transaction.

    ``courier_is_busy=True`` (assigning only) says the caller's transaction already moved
    the courier to busy (the accept's claim): their row is not written a second time.

    Raises ``InvalidTransition`` (HTTP 409) when the move is not allowed from the job's
    current status. Returns the saved job and its new event.
    """
    to = JobStatus(to)
    pk = job.pk if isinstance(job, Job) else job
    if is_locked and not (isinstance(job, Job) and transaction.get_connection().in_atomic_block):
        raise ValueError("job_transition(is_locked=True) needs the locked Job, in its transaction")
    with transaction.atomic(savepoint=not is_locked):
        if is_locked:
            locked = job
        else:
            # of=self: lock the job only, not the joined shop row (transitions of one shop
            # would otherwise queue behind each other).
            locked = Job.objects.select_for_update(of=("self",)).select_related("shop").get(pk=pk)
        from_status = JobStatus(locked.status)
        allowed = TRANSITIONS[from_status]
        if to not in allowed or (expected_from is not None and from_status not in expected_from):
            raise InvalidTransition(
                f"A job that is {from_status.value} cannot become {to.value}.",
                fields={"status": [from_status.value]},
            )

        previous_courier_id = locked.courier_id
        update_fields = {"status", "last_event_seq", "updated_at"}
        now = timezone.now()
        locked.status = to
        if to == S.ASSIGNED:
            if courier is None:
                raise ValueError("job_transition(to=assigned) needs courier=")
            locked.courier = courier
            update_fields.add("courier")
        elif to in (S.PENDING, S.SCHEDULED) and previous_courier_id is not None:
            locked.courier = None  # dropped or rescheduled before pickup: courier released
            update_fields.add("courier")
        if to == S.PENDING:
            # A new dispatch attempt: the radius starts small again and earlier
            # candidates may be offered the job again.
            locked.dispatch_round = 0
            locked.dispatch_attempt += 1
            update_fields.update({"dispatch_round", "dispatch_attempt"})
        if to in _STAMPS:
            setattr(locked, _STAMPS[to], now)
            update_fields.add(_STAMPS[to])
        if to in TERMINAL_STATUSES:
            locked.ended_at = now  # the tracking link's TTL counts from here
            update_fields.add("ended_at")
        for field, value in (changes or {}).items():
            setattr(locked, field, value)
            update_fields.add(field)
        locked.last_event_seq += 1
        event = JobEvent(
            job=locked,
            seq=locked.last_event_seq,
            from_status=from_status,
            to_status=to,
            actor=actor,
            actor_role=actor_role or _actor_role(actor),
            kind=kind,
            courier_id=courier.pk if courier else (locked.courier_id or previous_courier_id),
            point=point,
            reason=reason,
            data=dict(data or {}),
        )
        _job_and_event_write(locked, update_fields, event)
        courier_events: list[tuple[str, dict[str, Any]]] = []  # sent with the frames
        _sync_courier_hold(
            from_status,
            to,
            courier_id=locked.courier_id or previous_courier_id,
            job_pk=locked.pk,
            is_busy=courier_is_busy,
            events=courier_events,
        )
        _queue_side_effects(
            locked, event, previous_courier_id=previous_courier_id, courier_events=courier_events
        )
        # Subscribers (payments) write their part of the move in this same transaction.
        hook_run("transitioned", job=locked, event=event)
    return locked, event


def _job_and_event_write(job: Job, update_fields: set[str], event: JobEvent) -> None:
    """Save the job's changed fields and insert its event in one statement.

    The same UPDATE and INSERT that ``job.save(update_fields=...)`` and
    ``JobEvent.objects.create`` send, as a data-modifying CTE: two writes, one round trip.
    """
    alias = transaction.get_connection().alias
    update, update_params = update_sql(job, update_fields, alias=alias)
    insert, insert_params = insert_sql(JobEvent, [event], alias=alias, returning=True)
    with connection.cursor() as cursor:
        cursor.execute(f"WITH job_saved AS ({update}) {insert}", (*update_params, *insert_params))
        (event.pk,) = cursor.fetchone()
    mark_saved([event], alias=alias)


def _sync_courier_hold(
    from_status: JobStatus,
    to: JobStatus,
    *,
    courier_id: int | None,
    job_pk: UUID,
    is_busy: bool = False,
    events: list[tuple[str, dict[str, Any]]] | None = None,
) -> None:
    """A courier is busy while holding a job, and available again once it is over."""
    if courier_id is None:
        return
    if to in COURIER_ACTIVE_STATUSES and from_status not in COURIER_ACTIVE_STATUSES:
        courier_job_assign(courier_pk=courier_id, job_pk=job_pk, is_busy=is_busy, events=events)
    elif from_status in COURIER_ACTIVE_STATUSES and to not in COURIER_ACTIVE_STATUSES:
        courier_job_release(courier_pk=courier_id, job_pk=job_pk, events=events)


def _actor_role(actor: User | None) -> ActorRole:
    return _ROLE_TO_ACTOR.get(actor.role, ActorRole.SYSTEM) if actor else ActorRole.SYSTEM


def job_update_payload(job: Job, event: JobEvent) -> dict[str, Any]:
    """The ``job_update`` socket message: small, and the same for every audience."""
    return {
        "type": "job_update",
        "job_id": str(job.pk),
        "status": job.status,
        "seq": event.seq,
        "courier_id": job.courier_id,
        "at": event.created_at.isoformat(),
    }


def job_record_event(
    *,
    job: Job,
    kind: EventKind,
    actor: User | None,
    actor_role: ActorRole | None = None,
    reason: str = "",
    data: Mapping[str, Any] | None = None,
    courier_payload: Mapping[str, Any] | None = None,
) -> JobEvent:
    """Record something said about a job that does not change its status.

    The caller holds the job's row lock (``select_for_update``) and has saved its own
    changes. Writes the next ``JobEvent`` (from = to = the current status) and queues the
    same side effects as a move: the shop's webhook and socket, the recipient's page.
    ``courier_payload``, when given, also goes to the job's courier.
    """
    job.last_event_seq += 1
    Job.objects.filter(pk=job.pk).update(last_event_seq=job.last_event_seq)
    event = JobEvent.objects.create(
        job=job,
        seq=job.last_event_seq,
        from_status=job.status,
        to_status=job.status,
        actor=actor,
        actor_role=actor_role or _actor_role(actor),
        kind=kind,
        courier_id=job.courier_id,
        reason=reason,
        data=dict(data or {}),
    )
    _queue_side_effects(job, event, previous_courier_id=None)
    if courier_payload is not None and job.courier_id is not None:
        frame = {
            **courier_payload,
            "job_id": str(job.pk),
            "seq": event.seq,
            "at": event.created_at.isoformat(),
        }
        send_on_commit([(courier_group(job.courier_id), frame)])
    return event


def _queue_side_effects(
    job: Job,
    event: JobEvent,
    *,
    previous_courier_id: int | None,
    courier_events: Sequence[tuple[str, dict[str, Any]]] = (),
) -> None:
    from jobs.tracking.publish import tracking_publish_on_commit
    from jobs.webhooks import event_envelope, webhook_enqueue  # they import this module

    messages: list[tuple[str, dict[str, Any]]] = []
    if event.kind == EventKind.STATUS or event.from_status != event.to_status:
        update = job_update_payload(job, event)
        groups = {job_group(job.pk)}
        for courier_id in {job.courier_id, previous_courier_id} - {None}:
            groups.add(courier_group(courier_id))
        messages += [(group, update) for group in sorted(groups)]
    messages.append(
        (shop_group(job.shop_id), event_envelope(event=event, job=job, envelope_id=event.pk))
    )
    # The courier socket's event ahead of the frames, then the tracking state and its
    # subscriber count: one round trip after commit.
    tracking_publish_on_commit(job=job, event=event, messages=messages, events=courier_events)
    webhook_enqueue(event=event, job=job)
    if job.status == S.PENDING and event.from_status != S.PENDING:
        job_pk = str(job.pk)
        transaction.on_commit(
            lambda: async_task("jobs.dispatch.dispatch_job_task", job_pk, group="dispatch")
        )


def _first_event(job: Job, actor: User | None) -> JobEvent:
    return JobEvent(
        job=job,
        seq=1,
        from_status="",
        to_status=job.status,
        actor=actor,
        actor_role=_actor_role(actor),
    )


def job_record_creation(*, job: Job, actor: User | None) -> JobEvent:
    """Write a saved new job's first event (∅ → its status) and queue the side effects.

    Call inside the transaction that inserted ``job``. The posting service inserts the
    job and this event in one statement instead (``job_insert``).
    """
    if job.last_event_seq != 1:
        job.last_event_seq = 1
        Job.objects.filter(pk=job.pk).update(last_event_seq=1)
    event = _first_event(job, actor)
    event.save(force_insert=True)
    _queue_side_effects(job, event, previous_courier_id=None)
    return event


def job_insert(*, job: Job, actor: User | None) -> JobEvent:
    """Insert a new job and its first event in one statement, and queue the side effects.

    The INSERTs that ``job.save(force_insert=True)`` and ``job_record_creation`` send, as
    a data-modifying CTE (the event's foreign key is checked at the end of the statement,
    when the job row is there): one round trip. Call inside the posting transaction.
    """
    job.last_event_seq = 1
    event = _first_event(job, actor)
    alias = transaction.get_connection().alias
    job_sql, job_params = insert_sql(Job, [job], alias=alias)
    event_sql, event_params = insert_sql(JobEvent, [event], alias=alias, returning=True)
    with connection.cursor() as cursor:
        cursor.execute(f"WITH job_row AS ({job_sql}) {event_sql}", (*job_params, *event_params))
        (event.pk,) = cursor.fetchone()
    mark_saved([job, event], alias=alias)
    _queue_side_effects(job, event, previous_courier_id=None)
    return event
