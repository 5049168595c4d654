"""Send the recipient's and the shop's live frames: after job events and for new positions.

Job events: once the transaction commits, the recipient view is built once and sent to
the job's tracking group as a ``status`` frame (a rotated link's sockets get a
``tracking.revoke`` first). Positions: ``tracking_position_publish`` takes a courier's
newest shown fix for an active job (already throttled to one per
TRACKING_BROADCAST_INTERVAL_SECONDS per job across processes), recomputes the ETA from a
trusted fix, and sends the recipient a snapped ``courier_location`` (between pickup and
delivery) and an ``eta`` frame, and the shop the exact ``courier_location`` (while a
courier holds the job). Every send is best effort, like all broadcasts.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.contrib.gis.geos import Point
from django.db import DatabaseError, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from jobs.models import EventKind, Job, JobEvent
from jobs.tracking import privacy
from jobs.tracking.eta import Fix, job_eta
from marketplace.realtime.broadcast import has_subscribers, send_now
from marketplace.realtime.groups import shop_group, track_group

logger = logging.getLogger(__name__)
REVOKE = "tracking.revoke"


def tracking_revoke_message(job: Job) -> dict[str, Any]:
    """Tells a job's tracking sockets which token hash is live; the others close."""
    return {"type": REVOKE, "token_hash": job.tracking_token_hash}


def tracking_publish_now(*, job_pk: object, event_kind: str) -> None:
    from jobs.tracking.selectors import tracking_job_get, tracking_view

    if not has_subscribers(track_group(job_pk)):
        return  # nobody tracks it now: skip the reads behind the view
    job = tracking_job_get(job_pk=job_pk)
    if job is None:
        return
    if event_kind == EventKind.TRACKING_ROTATED:
        # The tracking consumer acts on this one itself and never forwards it.
        send_now([(track_group(job.pk), tracking_revoke_message(job))])
        return
    send_now([(track_group(job.pk), {"type": "status", **tracking_view(job)})])


def tracking_publish_on_commit(*, job: Job, event: JobEvent) -> None:
    """After commit, send the job's trackers the view as it now stands."""
    job_pk, kind = job.pk, event.kind
    transaction.on_commit(lambda: tracking_publish_now(job_pk=job_pk, event_kind=kind))


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
