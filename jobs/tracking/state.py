"""What publishing a courier position needs to know about its job, kept in Redis.

A courier socket publishes the newest fix for its job once per
TRACKING_BROADCAST_INTERVAL_SECONDS; reading the job from the database for each of those
costs a thread hop and a query per frame. Instead every job event writes the job's
tracking state (status, shop, courier, pickup and drop-off points, event ``seq``) to a
small Redis hash once it commits, before the recipient's ``status`` frame goes out
(``tracking_state_write``, from ``publish.tracking_publish_now``), and the publisher reads
that hash on the event loop (``tracking_state_get``).

Writes are ordered by the job's event ``seq``: a write carrying an older ``seq`` than the
hash holds is refused, so on-commit callbacks that run out of order, or a refill from the
database that read the row just before a transition, never bring an old status back. A
missing hash (a job made outside the lifecycle, or expired after
TRACKING_STATE_TTL_SECONDS) is refilled from the database once, off the event loop.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection

from jobs.models import Job
from marketplace.realtime.broadcast import Batch
from marketplace.redis_async import async_redis

logger = logging.getLogger(__name__)

# Long enough that an active job is refilled rarely, short enough that ended jobs' hashes
# do not pile up; a refill is one indexed read.
TRACKING_STATE_TTL_SECONDS = 6 * 3600

# KEYS[1] the hash; ARGV[1] seq, ARGV[2] ttl ms, ARGV[3..] field, value pairs.
_WRITE_IF_NEWER = """
local current = redis.call('HGET', KEYS[1], 'seq')
if current and tonumber(current) > tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'seq', ARGV[1], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


@dataclass(frozen=True, slots=True)
class TrackingState:
    """A job as the position publisher sees it (from the last committed event)."""

    seq: int
    status: str
    shop_id: int
    courier_id: int | None
    pickup: tuple[float, float]  # (lat, lng)
    dropoff: tuple[float, float]


def _key(job_pk: object) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:track-state:{job_pk}"


def state_of(job: Job) -> TrackingState:
    return TrackingState(
        seq=job.last_event_seq,
        status=str(job.status),
        shop_id=job.shop_id,
        courier_id=job.courier_id,
        pickup=(job.pickup_point.y, job.pickup_point.x),
        dropoff=(job.dropoff_point.y, job.dropoff_point.x),
    )


def _fields(state: TrackingState) -> list[Any]:
    return [
        "status", state.status,
        "shop", state.shop_id,
        "courier", "" if state.courier_id is None else state.courier_id,
        "plat", repr(state.pickup[0]), "plng", repr(state.pickup[1]),
        "dlat", repr(state.dropoff[0]), "dlng", repr(state.dropoff[1]),
    ]  # fmt: skip


def _parse(raw: dict[bytes, bytes]) -> TrackingState | None:
    try:
        courier = raw[b"courier"]
        return TrackingState(
            seq=int(raw[b"seq"]),
            status=raw[b"status"].decode(),
            shop_id=int(raw[b"shop"]),
            courier_id=int(courier) if courier else None,
            pickup=(float(raw[b"plat"]), float(raw[b"plng"])),
            dropoff=(float(raw[b"dlat"]), float(raw[b"dlng"])),
        )
    except (KeyError, ValueError):
        return None  # absent or half-written by an older version: refill


_client: redis.Redis | None = None


def _sync_client() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    return _client


def tracking_state_write(*, state: TrackingState, job_pk: object) -> bool:
    """Store ``state`` unless the hash already holds a newer event's; True if stored.

    Call after the event committed. A Redis failure is logged and the old hash (or none)
    stays: publishers then refuse or refill, see ``tracking_state_get``.
    """
    ttl_ms = TRACKING_STATE_TTL_SECONDS * 1000
    try:
        stored = _sync_client().eval(
            _WRITE_IF_NEWER, 1, _key(job_pk), state.seq, ttl_ms, *_fields(state)
        )
    except redis.RedisError as exc:
        logger.warning("tracking state of job %s not stored: %s", job_pk, exc)
        # A stale hash must not outlive a transition it missed: drop it, the next
        # publish refills from the database.
        with contextlib.suppress(redis.RedisError):
            _sync_client().delete(_key(job_pk))
        return False
    return bool(stored)


def tracking_state_write_queue(
    batch: Batch, *, state: TrackingState, job_pk: object
) -> Callable[[list[Any]], bool] | None:
    """Queue ``tracking_state_write`` on ``batch`` when it talks to the state's Redis.

    Returns a function of the batch's results saying whether the state was stored (a
    failure is handled as ``tracking_state_write`` handles it), or None when the batch is
    on another server or database (then write it with ``tracking_state_write``).
    """
    if not _same_redis(batch.client, _sync_client()):
        return None
    batch.pipeline.eval(
        _WRITE_IF_NEWER, 1, _key(job_pk), state.seq, TRACKING_STATE_TTL_SECONDS * 1000,
        *_fields(state),
    )  # fmt: skip
    index = batch.queued()

    def stored(results: list[Any]) -> bool:
        result = results[index]
        if isinstance(result, Exception):
            logger.warning("tracking state of job %s not stored: %s", job_pk, result)
            with contextlib.suppress(redis.RedisError):
                _sync_client().delete(_key(job_pk))
            return False
        return bool(result)

    return stored


def _same_redis(a: redis.Redis, b: redis.Redis) -> bool:
    """Whether two clients reach the same server and database."""
    first, second = a.connection_pool.connection_kwargs, b.connection_pool.connection_kwargs
    return all(first.get(name) == second.get(name) for name in ("host", "port", "db", "path"))


def tracking_state_refill(*, job_pk: object) -> TrackingState | None:
    """Read the job from the database and store its state (seq-guarded); None if no job."""
    try:
        job = (
            Job.objects.filter(pk=job_pk)
            .only(
                "last_event_seq",
                "status",
                "shop_id",
                "courier_id",
                "pickup_point",
                "dropoff_point",
            )
            .first()
        )
    finally:
        # A refill is rare (a job's first position, or after the TTL): give the pool
        # thread's connection back rather than keep one open per thread.
        connection.close()
    if job is None:
        return None
    state = state_of(job)
    tracking_state_write(state=state, job_pk=job_pk)
    return state


_refill_off_loop = sync_to_async(tracking_state_refill, thread_sensitive=False)


async def tracking_state_get(*, job_pk: object) -> TrackingState | None:
    """The job's tracking state: one HGETALL on the loop, a database refill on a miss."""
    try:
        raw = await async_redis().hgetall(_key(job_pk))
    except (OSError, redis.RedisError) as exc:
        logger.warning("tracking state of job %s unavailable: %s", job_pk, exc)
        return None  # nothing is published without a trustworthy state
    state = _parse(raw) if raw else None
    if state is None:
        state = await _refill_off_loop(job_pk=job_pk)
    return state
