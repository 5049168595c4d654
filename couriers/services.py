"""Writes for couriers: registration, availability, holding a job, positions, housekeeping."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import DecimalField, ExpressionWrapper, F
from django.utils import timezone
from rest_framework.authtoken.models import Token

from couriers import hooks
from couriers.ingest import pings_write
from couriers.locations import (
    AcceptedPing,
    CourierTrack,
    InvalidLocation,
    LocationFix,
    location_parse,
)
from couriers.models import DEFAULT_CAPACITY, Courier, CourierStatus, Vehicle
from couriers.selectors import courier_track_load
from marketplace.api.errors import ConflictError
from marketplace.models import User
from marketplace.realtime.broadcast import (
    broadcast_now,
    broadcast_on_commit,
    send_event_on_commit,
)
from marketplace.realtime.groups import courier_group, job_group
from marketplace.realtime.publish_async import publish_now
from marketplace.redis_async import async_redis
from marketplace.services import user_create

logger = logging.getLogger(__name__)


@transaction.atomic
def courier_register(
    *,
    username: str,
    password: str,
    vehicle: Vehicle,
    email: str = "",
    phone: str = "",
    first_name: str = "",
    last_name: str = "",
) -> tuple[User, Courier, Token]:
    """Create a courier (offline until they go online), their user and API token."""
    user = user_create(
        username=username,
        password=password,
        email=email,
        phone=phone,
        first_name=first_name,
        last_name=last_name,
    )
    courier = Courier.objects.create(
        user=user, vehicle=vehicle, capacity=DEFAULT_CAPACITY[Vehicle(vehicle)]
    )
    return user, courier, Token.objects.create(user=user)


class CourierOffline(ConflictError):
    code = "courier_offline"
    default_message = "You are offline: go online before sending locations."


class CourierHasActiveJob(ConflictError):
    code = "courier_has_active_job"
    default_message = "Finish or hand back your active job before going offline."


def _availability_payload(courier_pk: int, status: str) -> dict[str, Any]:
    return {"type": "availability", "courier_id": courier_pk, "status": status}


def courier_set_availability(*, courier: Courier, online: bool) -> Courier:
    """Go online (``available``, or ``busy`` while holding a job) or offline.

    Locks the courier row. Going offline with an active job is refused (409
    ``courier_has_active_job``): an offline courier's pings are refused, so the job's
    trackers would lose them. Going online counts as being seen, so the stale-courier
    task gives the app COURIER_STALE_AFTER_SECONDS to send its first ping. Going offline
    is announced on ``couriers.hooks`` after commit (jobs withdraws the open offers).
    """
    saved = _courier_set_availability(courier=courier, online=online)
    if saved.status == CourierStatus.OFFLINE:
        hooks.couriers_went_offline(courier_pks=[saved.pk])
    return saved


@transaction.atomic
def _courier_set_availability(*, courier: Courier, online: bool) -> Courier:
    locked = Courier.objects.select_for_update().get(pk=courier.pk)
    has_job = hooks.courier_active_job_pk(courier_pk=locked.pk) is not None
    if online:
        if locked.status == CourierStatus.OFFLINE:
            locked.status = CourierStatus.BUSY if has_job else CourierStatus.AVAILABLE
        locked.last_seen_at = timezone.now()
    else:
        if has_job:
            raise CourierHasActiveJob()
        locked.status = CourierStatus.OFFLINE
    locked.save(update_fields=["status", "last_seen_at", "updated_at"])
    broadcast_on_commit([courier_group(locked.pk)], _availability_payload(locked.pk, locked.status))
    return locked


# The channel-layer event that keeps an open courier socket's live state current
# (handled by CourierConsumer.courier_job; never forwarded to the app).
COURIER_JOB_EVENT = "courier.job"


def courier_job_assign(
    *,
    courier_pk: int,
    job_pk: UUID,
    is_busy: bool = False,
    events: list[tuple[str, dict[str, Any]]] | None = None,
) -> None:
    """The courier now holds ``job_pk``, so they are busy.

    For the job lifecycle to call inside the transaction that assigned the job (it holds
    the job's row lock). The courier's open socket learns it after commit, ahead of the
    ``job_update`` frame, and starts sending its positions to the job's trackers.
    ``is_busy``: the same transaction already made them busy (no second write).
    ``events``: the socket's event is appended there, for a caller that sends it after
    commit with its own frames (ahead of them), instead of being sent on its own.
    """
    if not is_busy:
        Courier.objects.filter(pk=courier_pk).update(status=CourierStatus.BUSY)
    _courier_job_event_on_commit(
        courier_pk, job_pk=job_pk, holds=True, status="busy", events=events
    )


def courier_job_release(
    *, courier_pk: int, job_pk: UUID, events: list[tuple[str, dict[str, Any]]] | None = None
) -> None:
    """The courier no longer holds ``job_pk``: a busy courier is available again.

    One who went offline meanwhile stays offline. Same caller and transaction as
    ``courier_job_assign``; the open socket stops tracking the job after commit.
    ``events``: as ``courier_job_assign``.
    """
    freed = Courier.objects.filter(pk=courier_pk, status=CourierStatus.BUSY).update(
        status=CourierStatus.AVAILABLE
    )
    status = (
        CourierStatus.AVAILABLE
        if freed
        else Courier.objects.filter(pk=courier_pk).values_list("status", flat=True).first()
    )
    _courier_job_event_on_commit(
        courier_pk, job_pk=job_pk, holds=False, status=str(status), events=events
    )


def _courier_job_event_on_commit(
    courier_pk: int,
    *,
    job_pk: UUID,
    holds: bool,
    status: str,
    events: list[tuple[str, dict[str, Any]]] | None,
) -> None:
    event = {"type": COURIER_JOB_EVENT, "job_id": str(job_pk), "holds": holds, "status": status}
    if events is not None:
        events.append((courier_group(courier_pk), event))
    else:
        send_event_on_commit(courier_group(courier_pk), event)


@dataclass(frozen=True)
class IngestResult:
    stored: int
    flags: dict[int, str]  # item index -> flag, for stored pings that carry one
    rejected: dict[int, dict[str, list[str]]]  # item index -> field errors


def locations_judge(
    items: Sequence[Any], *, status: str, track: CourierTrack, now: datetime
) -> tuple[list[tuple[int, AcceptedPing]], dict[int, dict[str, list[str]]]]:
    """The rules every position report passes, REST or socket, before it is stored.

    An offline courier is refused (``CourierOffline``, 409). Otherwise every item is
    parsed, and the valid ones are judged oldest first (a batch is a set of fixes).
    Returns the accepted pings with their item index and the refused items' field errors.
    Pure Python, no database: the socket calls it on the event loop for every frame.
    """
    if status == CourierStatus.OFFLINE:
        raise CourierOffline()
    valid: list[tuple[int, LocationFix]] = []
    rejected: dict[int, dict[str, list[str]]] = {}
    for index, raw in enumerate(items):
        try:
            valid.append((index, location_parse(raw, now=now)))
        except InvalidLocation as exc:
            rejected[index] = exc.fields
    valid.sort(key=lambda pair: pair[1].recorded_at)
    accepted = [(index, track.judge(fix, received_at=now)) for index, fix in valid]
    return accepted, rejected


def location_ingest(*, courier: Courier, items: Sequence[Any]) -> IngestResult:
    """Validate and store a REST batch right away (it is already a batch: two statements).

    Refuses an offline courier (409 ``courier_offline``). Invalid items are reported and
    the rest stored. While the courier holds an active job, the newest shown fix is
    broadcast to the job's trackers (throttled, see ``tracking_broadcast_claim``).
    """
    courier = Courier.objects.only("pk", "status", "vehicle", "position_recorded_at").get(
        pk=courier.pk
    )
    accepted, rejected = locations_judge(
        items, status=courier.status, track=courier_track_load(courier=courier), now=timezone.now()
    )
    pings = [ping for _, ping in accepted]
    pings_write(pings)
    job_pk = hooks.courier_active_job_pk(courier_pk=courier.pk)
    if job_pk is not None:
        tracking_broadcast(job_pk=job_pk, pings=pings)
    return IngestResult(
        stored=len(pings),
        flags={index: ping.flag for index, ping in accepted if ping.flag},
        rejected=rejected,
    )


def tracking_latest_shown(pings: Sequence[AcceptedPing]) -> AcceptedPing | None:
    """The newest ping trackers may see (in order, not implausible), if any."""
    shown = [p for p in pings if p.moves_current_point and p.is_shown_to_trackers]
    return max(shown, key=lambda p: p.fix.recorded_at) if shown else None


def tracking_payload(*, job_pk: object, ping: AcceptedPing) -> dict[str, Any]:
    fix = ping.fix
    return {
        "type": "courier_location",
        "job_id": str(job_pk),
        "lat": fix.lat,
        "lng": fix.lng,
        "heading": fix.heading,
        "speed_mps": fix.speed_mps,
        "recorded_at": fix.recorded_at.isoformat(),
    }


_redis: redis.Redis | None = None


def tracking_broadcast_claim(*, job_pk: object) -> bool:
    """True at most once per TRACKING_BROADCAST_INTERVAL_SECONDS per job, across processes.

    One ``SET NX PX`` in Redis: the first caller in each interval wins. This is the
    tracking throttle; ``TrackingGate`` only saves a socket the Redis trip inside it.
    """
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    interval_ms = max(1, int(settings.TRACKING_BROADCAST_INTERVAL_SECONDS * 1000))
    key = f"{settings.REDIS_KEY_PREFIX}:track-throttle:{job_pk}"
    try:
        return bool(_redis.set(key, 1, px=interval_ms, nx=True))
    except redis.RedisError as exc:
        logger.warning("tracking throttle unavailable: %s", exc)
        return False


def tracking_broadcast(*, job_pk: object, pings: Sequence[AcceptedPing]) -> bool:
    """Send the newest shown ping to the job's trackers, if the throttle allows (sync: REST)."""
    ping = tracking_latest_shown(pings)
    if ping is None or not tracking_broadcast_claim(job_pk=job_pk):
        return False
    broadcast_now([job_group(job_pk)], tracking_payload(job_pk=job_pk, ping=ping))
    hooks.position_shown(job_pk=job_pk, ping=ping)
    return True


class TrackingGate:
    """One socket's local first check of the throttle: one Redis claim per interval at most.

    A courier streams a ping a second or more; without it every frame would cost a Redis
    trip that the claim would refuse anyway.
    """

    __slots__ = ("last_claim_at", "pending", "publishing")

    def __init__(self) -> None:
        self.last_claim_at = float("-inf")
        # Blocking position hooks only (no async subscriber): the run on a worker thread,
        # and the newest claimed ping waiting for it to finish.
        self.publishing: asyncio.Task | None = None
        self.pending: tuple[object, AcceptedPing] | None = None

    def is_open(self) -> bool:
        now = time.monotonic()
        if now - self.last_claim_at < settings.TRACKING_BROADCAST_INTERVAL_SECONDS:
            return False
        self.last_claim_at = now
        return True


async def tracking_broadcast_claim_async(*, job_pk: object) -> bool:
    """``tracking_broadcast_claim`` on the event loop (the same key, one round trip)."""
    interval_ms = max(1, int(settings.TRACKING_BROADCAST_INTERVAL_SECONDS * 1000))
    key = f"{settings.REDIS_KEY_PREFIX}:track-throttle:{job_pk}"
    try:
        return bool(await async_redis().set(key, 1, px=interval_ms, nx=True))
    except (OSError, redis.RedisError) as exc:
        logger.warning("tracking throttle unavailable: %s", exc)
        return False


def _position_shown_in_worker(*, job_pk: object, ping: AcceptedPing) -> None:
    """The position hook on a worker thread, which gives its database connection back."""
    try:
        hooks.position_shown(job_pk=job_pk, ping=ping)
    finally:
        close_old_connections()


_position_shown_off_loop = sync_to_async(_position_shown_in_worker, thread_sensitive=False)


async def _position_shown_latest(gate: TrackingGate) -> None:
    while (pending := gate.pending) is not None:
        gate.pending = None
        await _position_shown_off_loop(job_pk=pending[0], ping=pending[1])


async def tracking_broadcast_async(
    *, job_pk: object, pings: Sequence[AcceptedPing], gate: TrackingGate, vehicle: str
) -> bool:
    """``tracking_broadcast`` for the socket, all on the event loop.

    The local gate, then the Redis claim, then the async position hooks awaited in line
    (they publish without a thread hop or a database read). Blocking hooks, when no
    async one is plugged in, run on a worker thread, one run per socket at a time; a
    ping claimed meanwhile replaces any still waiting, so the newest is always shown.
    """
    ping = tracking_latest_shown(pings)
    if (
        ping is None
        or not gate.is_open()
        or not await tracking_broadcast_claim_async(job_pk=job_pk)
    ):
        return False
    await publish_now([(job_group(job_pk), tracking_payload(job_pk=job_pk, ping=ping))])
    if hooks.has_async_position_subscribers():
        await hooks.position_shown_async(job_pk=job_pk, ping=ping, vehicle=vehicle)
        return True
    gate.pending = (job_pk, ping)
    if gate.publishing is None or gate.publishing.done():
        gate.publishing = asyncio.ensure_future(_position_shown_latest(gate))
    return True


def courier_rating_record(*, courier_pk: int, stars: int) -> None:
    """Add one recipient rating (1-5) to the courier's mean, in one conditional UPDATE.

    The mean is recomputed from the running total, so it never drifts with rounding.
    """
    if not 1 <= stars <= 5:
        raise ValueError(f"stars must be 1-5, not {stars}")
    Courier.objects.filter(pk=courier_pk).update(
        rating_count=F("rating_count") + 1,
        rating_stars_total=F("rating_stars_total") + stars,
        rating=ExpressionWrapper(
            (F("rating_stars_total") + stars) * Decimal("1.00") / (F("rating_count") + 1),
            output_field=DecimalField(max_digits=3, decimal_places=2),
        ),
        updated_at=timezone.now(),
    )


_MARK_STALE_SQL = """
UPDATE couriers_courier
SET status = %(offline)s, updated_at = %(now)s
WHERE status = %(available)s AND (last_seen_at IS NULL OR last_seen_at < %(seen_before)s)
RETURNING id
"""


def couriers_mark_stale_offline(*, now: datetime | None = None) -> list[int]:
    """Set available couriers unseen for COURIER_STALE_AFTER_SECONDS offline (one UPDATE).

    Busy couriers are left alone: they hold a job, and going offline would refuse the
    pings their trackers wait for (a phone in a tunnel comes back). Each courier set
    offline is told on their socket, and their open offers are withdrawn. Returns their pks.
    """
    now = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _MARK_STALE_SQL,
            {
                "offline": CourierStatus.OFFLINE.value,
                "available": CourierStatus.AVAILABLE.value,
                "now": now,
                "seen_before": now - timedelta(seconds=settings.COURIER_STALE_AFTER_SECONDS),
            },
        )
        pks = sorted(row[0] for row in cursor.fetchall())
        for pk in pks:
            broadcast_on_commit([courier_group(pk)], _availability_payload(pk, "offline"))
    hooks.couriers_went_offline(courier_pks=pks)
    return pks


_DELETE_OLD_PINGS_SQL = """
DELETE FROM couriers_locationping
WHERE id IN (
    SELECT id FROM couriers_locationping WHERE received_at < %s LIMIT %s
)
"""


def location_pings_delete_old(*, now: datetime | None = None, chunk_size: int = 10_000) -> int:
    """Delete breadcrumbs older than LOCATION_RETENTION_DAYS, ``chunk_size`` rows per
    transaction so no statement holds locks or bloats WAL for long. Returns rows deleted."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.LOCATION_RETENTION_DAYS)
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_DELETE_OLD_PINGS_SQL, [cutoff, chunk_size])
            deleted = cursor.rowcount
        total += deleted
        if deleted < chunk_size:
            return total
