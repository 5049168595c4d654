"""Writes for couriers: registration, availability, location ingestion, housekeeping."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from couriers.ingest import pings_write
from couriers.locations import (
    AcceptedPing,
    CourierTrack,
    InvalidLocation,
    LocationFix,
    location_parse,
)
from couriers.models import DEFAULT_CAPACITY, Courier, CourierStatus, LocationPing, Vehicle
from couriers.selectors import courier_active_job_pk
from marketplace.api.errors import ConflictError
from marketplace.models import User
from marketplace.realtime.broadcast import broadcast_now, broadcast_on_commit
from marketplace.realtime.groups import courier_group, job_group
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
    withdraws the courier's open offers, so those jobs move on at once.
    """
    saved = _courier_set_availability(courier=courier, online=online)
    if saved.status == CourierStatus.OFFLINE:
        _offers_withdraw_for_offline([saved.pk])
    return saved


def _offers_withdraw_for_offline(courier_pks: Sequence[int]) -> None:
    """Withdraw open offers of couriers who just went offline (after their commit)."""
    # Imported here: dispatch sits above couriers (it imports the matching selectors).
    from jobs.dispatch import offers_withdraw_for_courier

    for courier in Courier.objects.filter(pk__in=courier_pks):
        offers_withdraw_for_courier(courier=courier)


@transaction.atomic
def _courier_set_availability(*, courier: Courier, online: bool) -> Courier:
    locked = Courier.objects.select_for_update().get(pk=courier.pk)
    has_job = courier_active_job_pk(courier_pk=locked.pk) is not None
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


def courier_track_load(*, courier: Courier) -> CourierTrack:
    """Seed plausibility checks from the database: newest fix and last unflagged breadcrumb."""
    reference = (
        LocationPing.objects.filter(courier_id=courier.pk, flag="")
        .order_by("-recorded_at")
        .values_list("point", "recorded_at", "accuracy_m")
        .first()
    )
    return CourierTrack(
        courier_pk=courier.pk,
        vehicle=courier.vehicle,
        latest_recorded_at=courier.position_recorded_at,
        reference=(
            LocationFix(
                lat=reference[0].y,
                lng=reference[0].x,
                recorded_at=reference[1],
                accuracy_m=reference[2],
            )
            if reference
            else None
        ),
    )


@dataclass(frozen=True)
class IngestResult:
    stored: int
    flags: dict[int, str]  # item index -> flag, for stored pings that carry one
    rejected: dict[int, dict[str, list[str]]]  # item index -> field errors


def judge_items(
    items: Sequence[Any], *, track: CourierTrack, now: datetime
) -> tuple[list[tuple[int, AcceptedPing]], dict[int, dict[str, list[str]]]]:
    """Parse every item, then judge the valid ones oldest first (a batch is a set of fixes)."""
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
    if courier.status == CourierStatus.OFFLINE:
        raise CourierOffline()
    now = timezone.now()
    accepted, rejected = judge_items(items, track=courier_track_load(courier=courier), now=now)
    pings = [ping for _, ping in accepted]
    pings_write(pings)
    job_pk = courier_active_job_pk(courier_pk=courier.pk)
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

    One ``SET NX PX`` in Redis: the first caller in each interval wins.
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
    """Send the newest shown ping to the job's trackers, if the throttle allows."""
    ping = tracking_latest_shown(pings)
    if ping is None or not tracking_broadcast_claim(job_pk=job_pk):
        return False
    broadcast_now([job_group(job_pk)], tracking_payload(job_pk=job_pk, ping=ping))
    return True


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
    _offers_withdraw_for_offline(pks)
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
