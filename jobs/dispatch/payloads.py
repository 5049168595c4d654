"""The socket frames and list items dispatch sends couriers: built and sent from here only."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.contrib.gis.geos import Point

from jobs.models import Job, Offer
from marketplace.realtime.broadcast import send_on_commit
from marketplace.realtime.groups import courier_group

OFFER = "offer"
OFFER_WITHDRAWN = "offer_withdrawn"


class WithdrawReason:
    """Why an offer left a courier's screen before they answered it."""

    TAKEN = "taken"  # another courier accepted the job
    EXPIRED = "expired"  # nobody answered before expires_at
    JOB_UNAVAILABLE = "job_unavailable"  # the job was cancelled or otherwise left pending
    COURIER_UNAVAILABLE = "courier_unavailable"  # the courier went offline


def isoformat(value: datetime | None) -> str | None:
    """UTC with a ``Z``, the way the REST API writes datetimes."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _stop(address: str, point: Point) -> dict[str, Any]:
    return {"address": address, "lat": point.y, "lng": point.x}


def offer_data(offer: Offer, job: Job | None = None) -> dict[str, Any]:
    """What a courier sees of an offer: the list endpoint's item and the frame's body.

    Contacts and instructions stay hidden until the courier accepts. ``distance_m`` is the
    courier's distance to the pickup when offered; ``trip_distance_m`` is pickup to dropoff.
    """
    job = job or offer.job
    return {
        "offer_id": str(offer.pk),
        "job_id": str(job.pk),
        "expires_at": isoformat(offer.expires_at),
        "pickup": {
            **_stop(job.pickup_address, job.pickup_point),
            "after": isoformat(job.pickup_after),
        },
        "dropoff": {
            **_stop(job.dropoff_address, job.dropoff_point),
            "before": isoformat(job.deliver_before),
        },
        "distance_m": offer.distance_m,
        "trip_distance_m": job.distance_m,
        "payout_minor": job.courier_payout_minor,
        "tip_minor": job.tip_minor,
        "currency": job.currency,
        "package_size": job.package_size,
        "dispatch_round": offer.dispatch_round,
    }


def offer_frame(offer: Offer, job: Job | None = None) -> dict[str, Any]:
    """The ``offer`` socket message."""
    return {"type": OFFER, **offer_data(offer, job)}


def offer_withdrawn_frame(*, offer_pk: object, job_pk: object, reason: str) -> dict[str, Any]:
    """The ``offer_withdrawn`` socket message: take this offer off the screen."""
    return {
        "type": OFFER_WITHDRAWN,
        "offer_id": str(offer_pk),
        "job_id": str(job_pk),
        "reason": reason,
    }


def send_to_couriers_on_commit(frames: Iterable[tuple[int, dict[str, Any]]]) -> None:
    """Send each ``(courier_pk, frame)`` to that courier's socket group after commit.

    Best effort and in one trip into the event loop (``marketplace.realtime.broadcast``).
    """
    send_on_commit([(courier_group(courier_pk), frame) for courier_pk, frame in frames])
