"""Send the recipient's and the shop's live frames: after job events and for new positions.

Job events: once the transaction commits, the recipient view is built once and sent to
the job's tracking group as a ``status`` frame (a rotated link's sockets get a
``tracking.revoke`` first). Positions: ``tracking_position_publish`` takes a courier's
newest shown fix for an active job (already throttled to one per
TRACKING_BROADCAST_INTERVAL_SECONDS per job across processes), recomputes the ETA from a
trusted fix, and sends the recipient a snapped ``courier_location`` (between pickup and
delivery) and an ``eta`` frame, and the shop the exact ``courier_location`` (while a
courier holds the job). Every send is best effort, like all broadcasts.

The courier socket takes a faster path, ``tracking_position_shown_async``, on its event
loop: the job's status and points come from the tracking state in Redis
(``jobs.tracking.state``, written on commit by every job event before its ``status``
frame), the straight-line ETA is computed in process, and the frames are published
straight to the channel layer: no thread hop, no database read. A configured routing
engine is asked off the loop, at most one request per job at a time, for the newest fix.
The recipient's socket also refuses any position while the last status it was sent is
outside the recipient's window, so a publisher holding a state that a transition has just
replaced can never show a position after ``delivered`` or before ``picked_up``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.gis.geos import Point
from django.db import DatabaseError, close_old_connections, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from jobs.models import EventKind, Job, JobEvent
from jobs.tracking import privacy
from jobs.tracking.eta import (
    AFTER_PICKUP,
    BEFORE_PICKUP,
    Fix,
    eta_from_points,
    eta_is_stale,
    is_router_in_process,
    job_eta,
)
from jobs.tracking.state import (
    TrackingState,
    state_of,
    tracking_state_get,
    tracking_state_refill,
    tracking_state_write,
    tracking_state_write_queue,
)
from marketplace.realtime.broadcast import (
    batch,
    has_subscribers,
    send_events_now,
    send_now,
    subscribers_in,
)
from marketplace.realtime.groups import shop_group, track_group
from marketplace.realtime.publish_async import publish_now

logger = logging.getLogger(__name__)
REVOKE = "tracking.revoke"


def tracking_revoke_message(job: Job) -> dict[str, Any]:
    """Tells a job's tracking sockets which token hash is live; the others close."""
    return {"type": REVOKE, "token_hash": job.tracking_token_hash}


def tracking_publish_now(
    *,
    job_pk: object,
    event_kind: str,
    state: TrackingState | None = None,
    messages: Sequence[tuple[str, dict[str, Any]]] = (),
    events: Sequence[tuple[str, dict[str, Any]]] = (),
) -> None:
    """Send channel-layer ``events`` and ``messages``, store the job's tracking ``state``
    (when given), then send its trackers the view.

    The state goes before the view: a position published after the ``status`` frame must
    already be judged by the new status. The messages, the state and the subscriber count
    go in one round trip when they share a Redis (``broadcast.batch``).
    """
    from jobs.tracking.selectors import tracking_job_get, tracking_view

    if not _written_and_tracked(job_pk=job_pk, state=state, messages=messages, events=events):
        return  # nobody tracks it now: skip the reads behind the view
    job = tracking_job_get(job_pk=job_pk)
    if job is None:
        return
    if event_kind == EventKind.TRACKING_ROTATED:
        # The tracking consumer acts on this one itself and never forwards it.
        send_now([(track_group(job.pk), tracking_revoke_message(job))])
        return
    send_now([(track_group(job.pk), {"type": "status", **tracking_view(job)})])


def _written_and_tracked(
    *,
    job_pk: object,
    state: TrackingState | None,
    messages: Sequence[tuple[str, dict[str, Any]]],
    events: Sequence[tuple[str, dict[str, Any]]],
) -> bool:
    """Send ``events`` and ``messages``, store ``state``; whether anyone tracks the job.
    One round trip when the channel layer and the tracking state share a Redis, else one
    per part."""
    pending = batch()
    if pending is not None:
        pending.send_events(events)
        pending.send(messages)
        stored = (
            None
            if state is None
            else tracking_state_write_queue(pending, state=state, job_pk=job_pk)
        )
        if state is None or stored is not None:
            counted = pending.count(track_group(job_pk))
            try:
                results = pending.execute()
            except (OSError, RedisError) as exc:
                logger.warning("broadcast and tracking state of job %s failed: %s", job_pk, exc)
                if state is not None:
                    tracking_state_write(state=state, job_pk=job_pk)  # retries, or drops it
                return has_subscribers(track_group(job_pk))
            if stored is not None:
                stored(results)
            return subscribers_in(results[counted])
    send_events_now(events)
    send_now(messages)
    if state is not None:
        tracking_state_write(state=state, job_pk=job_pk)
    return has_subscribers(track_group(job_pk))


def tracking_publish_on_commit(
    *,
    job: Job,
    event: JobEvent,
    messages: Sequence[tuple[str, dict[str, Any]]] = (),
    events: Sequence[tuple[str, dict[str, Any]]] = (),
) -> None:
    """After commit, send channel-layer ``events`` and ``messages``, store the job's
    tracking state and send its trackers the view (``tracking_publish_now``)."""
    job_pk, kind, messages, events = job.pk, event.kind, list(messages), list(events)
    if job.get_deferred_fields() & _STATE_FIELDS:
        # A partly loaded job: read the state after commit rather than query inside.
        def publish() -> None:
            send_events_now(events)
            send_now(messages)
            tracking_state_refill(job_pk=job_pk)
            tracking_publish_now(job_pk=job_pk, event_kind=kind)

        transaction.on_commit(publish)
        return
    state = state_of(job)
    transaction.on_commit(
        lambda: tracking_publish_now(
            job_pk=job_pk, event_kind=kind, state=state, messages=messages, events=events
        )
    )


_STATE_FIELDS = frozenset(
    {"last_event_seq", "status", "shop_id", "shop", "courier_id", "courier", "pickup_point",
     "dropoff_point"}
)  # fmt: skip


def tracking_position_publish(
    *,
    job_pk: object,
    lat: float,
    lng: float,
    heading: float | None,
    speed_mps: float | None,
    recorded_at: datetime,
    is_trusted: bool,
    now: datetime | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """Send one (already throttled) courier fix to whoever may see it; returns what was sent.

    Reads the job (status, shop, stops) once; a trusted fix also refreshes the ETA
    through the router. Blocking: call it off the event loop.
    """
    from jobs.tracking.selectors import latest_fixes, tracking_job_get

    now = now or timezone.now()
    job = tracking_job_get(job_pk=job_pk)
    if job is None or job.courier_id is None:
        return []
    messages: list[tuple[str, dict[str, Any]]] = []
    if privacy.shop_may_see_location(job.status):
        messages.append(
            (
                shop_group(job.shop_id),
                privacy.shop_location(
                    job_pk=job.pk,
                    lat=lat,
                    lng=lng,
                    heading=heading,
                    speed_mps=speed_mps,
                    recorded_at=recorded_at,
                ),
            )
        )
    if privacy.recipient_may_see_location(job.status) and privacy.is_fix_fresh(
        recorded_at, now=now
    ):
        location = privacy.recipient_location(
            lat=lat, lng=lng, heading=heading, recorded_at=recorded_at
        )
        messages.append((track_group(job.pk), {"type": "courier_location", **location}))
    if is_trusted:
        trusted_fix = Fix(point=Point(lng, lat, srid=4326), recorded_at=recorded_at)
    else:
        _, trusted = latest_fixes(job.courier_id)
        trusted_fix = Fix(trusted.point, trusted.recorded_at) if trusted else None
    eta, is_stale = job_eta(job, trusted_fix=trusted_fix, now=now)
    if eta is not None:
        warnings = ["stale_location"] if is_stale else []
        messages.append((track_group(job.pk), {"type": "eta", "eta": eta, "warnings": warnings}))
    send_now(messages)
    return messages


def tracking_position_shown(*, job_pk: object, ping: Any) -> None:
    """The couriers app's position hook: publish one throttled shown fix (``AcceptedPing``).

    A failure here must never reach the courier's ingestion, so it is logged and dropped.
    """
    fix = ping.fix
    try:
        tracking_position_publish(
            job_pk=job_pk,
            lat=fix.lat,
            lng=fix.lng,
            heading=fix.heading,
            speed_mps=fix.speed_mps,
            recorded_at=fix.recorded_at,
            is_trusted=ping.is_trusted,
        )
    except (DatabaseError, OSError, RedisError):
        logger.exception("tracking position for job %s not published", job_pk)


def position_messages(
    *,
    state: TrackingState,
    job_pk: object,
    fix: Any,
    is_trusted: bool,
    vehicle: str,
    now: datetime,
) -> list[tuple[str, dict[str, Any]]]:
    """What one fix shows, and to whom, for a job in ``state``: pure, no I/O.

    The shop gets the exact fix while a courier holds its job; the recipient a snapped
    one between pickup and delivery while it is fresh; and, for a trusted fix with an
    in-process router, an ``eta`` frame.
    """
    messages: list[tuple[str, dict[str, Any]]] = []
    status = state.status
    if privacy.shop_may_see_location(status):
        messages.append(
            (
                shop_group(state.shop_id),
                privacy.shop_location(
                    job_pk=job_pk,
                    lat=fix.lat,
                    lng=fix.lng,
                    heading=fix.heading,
                    speed_mps=fix.speed_mps,
                    recorded_at=fix.recorded_at,
                ),
            )
        )
    if privacy.recipient_may_see_location(status) and privacy.is_fix_fresh(
        fix.recorded_at, now=now
    ):
        location = privacy.recipient_location(
            lat=fix.lat, lng=fix.lng, heading=fix.heading, recorded_at=fix.recorded_at
        )
        messages.append((track_group(job_pk), {"type": "courier_location", **location}))
    if is_trusted and is_router_in_process() and status in BEFORE_PICKUP | AFTER_PICKUP:
        trusted = Fix(point=Point(fix.lng, fix.lat, srid=4326), recorded_at=fix.recorded_at)
        eta = eta_from_points(
            status=status,
            vehicle=vehicle,
            pickup=Point(state.pickup[1], state.pickup[0], srid=4326),
            dropoff=Point(state.dropoff[1], state.dropoff[0], srid=4326),
            fix=trusted,
            now=now,
        )
        is_stale = eta_is_stale(trusted, now=now)
        if is_stale:
            eta["confidence"] = "low"
        warnings = ["stale_location"] if is_stale else []
        messages.append((track_group(job_pk), {"type": "eta", "eta": eta, "warnings": warnings}))
    return messages


def _routed_eta_publish(*, job_pk: object, point: Point, recorded_at: datetime) -> None:
    """Ask the routing engine for the job's ETA from one trusted fix and send it."""
    from jobs.tracking.selectors import tracking_job_get

    try:
        job = tracking_job_get(job_pk=job_pk)
        if job is None or job.courier_id is None:
            return
        now = timezone.now()
        eta, is_stale = job_eta(job, trusted_fix=Fix(point, recorded_at), now=now)
        if eta is not None:
            warnings = ["stale_location"] if is_stale else []
            send_now([(track_group(job.pk), {"type": "eta", "eta": eta, "warnings": warnings})])
    except (DatabaseError, OSError, RedisError):
        logger.exception("routed ETA for job %s not published", job_pk)
    finally:
        close_old_connections()


_routed_eta_off_loop = sync_to_async(_routed_eta_publish, thread_sensitive=False)
# Per job: the newest trusted fix still to be routed, and the task routing them.
_routing_pending: dict[object, tuple[Point, datetime]] = {}
_routing_tasks: dict[object, asyncio.Task] = {}


async def _route_latest(job_pk: object) -> None:
    try:
        while (pending := _routing_pending.pop(job_pk, None)) is not None:
            await _routed_eta_off_loop(job_pk=job_pk, point=pending[0], recorded_at=pending[1])
    finally:
        _routing_tasks.pop(job_pk, None)


def _route_in_background(job_pk: object, fix: Any) -> None:
    """Coalesce: a fix arriving while one is routed replaces any still waiting."""
    _routing_pending[job_pk] = (Point(fix.lng, fix.lat, srid=4326), fix.recorded_at)
    if job_pk not in _routing_tasks:
        _routing_tasks[job_pk] = asyncio.ensure_future(_route_latest(job_pk))


async def tracking_position_shown_async(*, job_pk: object, ping: Any, vehicle: str) -> None:
    """The courier socket's position hook, on its event loop: one throttled shown fix.

    Reads the job's tracking state from Redis (one round trip), publishes what each
    audience may see, and hands a routed ETA to a worker thread when a routing engine is
    configured. Nothing is published for a job the pinging courier does not hold.
    A failure is logged and dropped: it must never reach the courier's ingestion.
    """
    try:
        state = await tracking_state_get(job_pk=job_pk)
        if state is None or state.courier_id != ping.courier_pk:
            return
        fix = ping.fix
        messages = position_messages(
            state=state,
            job_pk=job_pk,
            fix=fix,
            is_trusted=ping.is_trusted,
            vehicle=vehicle,
            now=timezone.now(),
        )
        await publish_now(messages)
        if (
            ping.is_trusted
            and not is_router_in_process()
            and state.status in BEFORE_PICKUP | AFTER_PICKUP
        ):
            _route_in_background(job_pk, fix)
    except (DatabaseError, OSError, RedisError):
        logger.exception("tracking position for job %s not published", job_pk)
