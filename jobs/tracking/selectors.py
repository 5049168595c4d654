"""Reads behind the tracking link and the shop socket: the recipient's view of one job,
a shop's active jobs, and a shop's events after a given one.

``tracking_view`` is the one definition of what a recipient may know: the JSON endpoint,
the page and every frame of the tracking socket are built from it, so none of them can
show more than the others.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import Point
from django.db.models import QuerySet
from django.utils import timezone

from couriers.locations import FLAG_INACCURATE
from couriers.models import LocationPing
from jobs.models import (
    TERMINAL_STATUSES,
    DeliveryOption,
    Job,
    JobEvent,
    JobRating,
    JobStatus,
    PhotoKind,
    ProofOfDelivery,
)
from jobs.tracking import privacy
from jobs.tracking.eta import Fix, job_eta
from jobs.tracking.rules import allowed_actions
from jobs.tracking.tokens import tracking_link_expires_at
from marketplace.models import Shop

S = JobStatus
# Job statuses as the recipient's timeline names them.
_STEP_FOR_STATUS = {
    S.ASSIGNED: "courier_assigned",
    S.PICKED_UP: "picked_up",
    S.AT_DROPOFF: "arriving",
    S.DELIVERED: "delivered",
    S.FAILED: "failed",
    S.RETURNING: "returning",
    S.RETURNED: "returned",
    S.CANCELLED: "cancelled",
}
SHOP_ACTIVE_STATUSES = [status for status in JobStatus if status not in TERMINAL_STATUSES]
RESUME_MAX_EVENTS = 1000


def _timeline(events: list[JobEvent]) -> list[dict[str, Any]]:
    steps: dict[str, datetime] = {}
    for event in events:
        if event.kind != "status" and event.from_status == event.to_status:
            continue
        if not event.from_status:
            steps["created"] = event.created_at
            continue
        if event.to_status in (S.PENDING, S.SCHEDULED):
            # Dropped or rescheduled before pickup: the assignment no longer stands.
            steps.pop("courier_assigned", None)
            continue
        step = _STEP_FOR_STATUS.get(JobStatus(event.to_status))
        if step:
            steps[step] = event.created_at
    return [{"step": step, "at": at.isoformat()} for step, at in steps.items()]


def _courier_name(job: Job) -> str:
    user = job.courier.user
    first = user.first_name.strip()
    last = user.last_name.strip()
    if not first:
        return ""
    return f"{first} {last[0]}." if last else first


def latest_fixes(courier_pk: int) -> tuple[LocationPing | None, LocationPing | None]:
    """The courier's newest breadcrumb trackers may see, and the newest trusted one."""
    recent = list(
        LocationPing.objects.filter(courier_id=courier_pk, flag__in=["", FLAG_INACCURATE])
        .order_by("-recorded_at")
        .only("point", "recorded_at", "heading", "flag")[:20]
    )
    shown = recent[0] if recent else None
    trusted = next((ping for ping in recent if ping.flag == ""), None)
    return shown, trusted


def _point(point: Point | None) -> dict[str, float] | None:
    return None if point is None else {"lat": point.y, "lng": point.x}


def _delivery(job: Job) -> dict[str, Any]:
    locker = None
    if job.delivery_option == DeliveryOption.LOCKER and job.status == S.DELIVERED:
        locker = {"id": job.locker_id, "passcode": job.locker_passcode}
    alternate = None
    if job.delivery_option == DeliveryOption.ALTERNATE_LOCATION and job.alternate_point:
        alternate = {"address": job.alternate_address, **_point(job.alternate_point)}
    return {
        "option": job.delivery_option,
        "instructions": job.recipient_instructions,
        "alternate_location": alternate,
        "locker": locker,
    }


def _proof(job: Job) -> dict[str, Any] | None:
    if job.status != S.DELIVERED:
        return None
    proof = ProofOfDelivery.objects.filter(job=job).select_related("photo").only("photo_id").first()
    photos = []
    if proof is not None and proof.photo_id is not None and proof.photo.kind == PhotoKind.DELIVERY:
        photos.append(str(proof.photo_id))
    delivered_at = job.delivered_at.isoformat() if job.delivered_at else None
    return {"delivered_at": delivered_at, "photo_ids": photos}


def tracking_view(job: Job, *, now: datetime | None = None) -> dict[str, Any]:
    """Everything the recipient may see about ``job`` right now.

    Proof photos are listed by id (``with_photo_urls`` turns them into links under the
    token that asked, so a frame never carries another token). Expects ``job`` with
    ``shop`` and ``courier__user`` selected.
    """
    now = now or timezone.now()
    events = list(
        JobEvent.objects.filter(job=job)
        .order_by("seq")
        .only("seq", "from_status", "to_status", "kind", "created_at")
    )
    courier = None
    location = None
    trusted_fix = None
    if job.courier_id is not None and job.status not in TERMINAL_STATUSES:
        courier = {"name": _courier_name(job), "vehicle": job.courier.vehicle}
        shown, trusted = latest_fixes(job.courier_id)
        if trusted is not None:
            trusted_fix = Fix(point=trusted.point, recorded_at=trusted.recorded_at)
        if (
            shown is not None
            and privacy.recipient_may_see_location(job.status)
            and privacy.is_fix_fresh(shown.recorded_at, now=now)
        ):
            location = privacy.recipient_location(
                lat=shown.point.y,
                lng=shown.point.x,
                heading=shown.heading,
                recorded_at=shown.recorded_at,
            )
    eta, is_stale = job_eta(job, trusted_fix=trusted_fix, now=now)
    is_active = job.status not in TERMINAL_STATUSES
    expires_at = tracking_link_expires_at(job)
    rating = JobRating.objects.filter(job=job).values("stars", "comment").first()
    return {
        "status": job.status,
        "timeline": _timeline(events),
        "shop": {"name": job.shop.name},
        "pickup": {"address": job.pickup_address, **_point(job.pickup_point)},
        "dropoff": {"address": job.dropoff_address, **_point(job.dropoff_point)},
        "window": {
            "deliver_after": job.deliver_after.isoformat() if job.deliver_after else None,
            "deliver_before": job.deliver_before.isoformat() if job.deliver_before else None,
        },
        "delivery": _delivery(job),
        "pin_required": job.pin_required,
        "pin": job.recipient_pin if job.pin_required and is_active else None,
        "eta": eta,
        "warnings": ["stale_location"] if is_stale and is_active else [],
        "courier": courier,
        "courier_location": location,
        "proof": _proof(job),
        "rating": rating,
        "actions": allowed_actions(job, has_rating=rating is not None),
        "expires_at": expires_at.isoformat() if expires_at else None,
    }


def with_photo_urls(view: dict[str, Any], *, token: str) -> dict[str, Any]:
    """``view`` with its proof's photo ids replaced by links under ``token``."""
    proof = view.get("proof")
    if proof is None or "photo_ids" not in proof:
        return view
    ids = proof["photo_ids"]
    urls = [f"{settings.PUBLIC_BASE_URL}/api/v1/track/{token}/photos/{pk}/" for pk in ids]
    rest = {key: value for key, value in proof.items() if key != "photo_ids"}
    return {**view, "proof": {**rest, "photo_urls": urls}}


def tracking_job_get(*, job_pk: object) -> Job | None:
    return Job.objects.select_related("shop", "courier__user").filter(pk=job_pk).first()


def shop_active_jobs(*, shop: Shop) -> QuerySet[Job]:
    """The shop's jobs that have not ended, oldest first."""
    return (
        Job.objects.filter(shop=shop, status__in=SHOP_ACTIVE_STATUSES)
        .select_related("courier")
        .order_by("created_at", "pk")
    )


def shop_latest_event_id(*, shop: Shop) -> int:
    """The id of the shop's newest job event (0 when there is none)."""
    last = JobEvent.objects.filter(job__shop=shop).order_by("-pk").values_list("pk", flat=True)
    return last.first() or 0


def shop_events_after(*, shop: Shop, after: int, limit: int = RESUME_MAX_EVENTS) -> list[JobEvent]:
    """The shop's job events with an id above ``after``, in id order, at most ``limit``."""
    return list(
        JobEvent.objects.filter(job__shop=shop, pk__gt=after)
        .select_related("job")
        .order_by("pk")[:limit]
    )
