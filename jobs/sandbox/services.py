"""The robo courier's walk: each step through the same services a real courier's app calls.

One step at a time, from whatever status the job is in: ``pending`` → the built-in robo
courier is offered the job and accepts it (``offer_accept``); then arrive at the pickup,
pick up, arrive at the dropoff and deliver with the proof the delivery option asks for
(``jobs.courier_steps``), each after positions along the way (``location_ingest``). With
``fail_at`` the delivery fails after pickup or at the dropoff and the package goes back.
Every status change, event, webhook, socket frame, tracking update and money command
comes from those services, exactly as for a real courier.
"""

from __future__ import annotations

import hashlib
import logging
import struct
import zlib
from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from couriers.models import Courier
from jobs.courier_steps import (
    FailureReason,
    delivery_target,
    job_arrive_dropoff,
    job_arrive_pickup,
    job_complete_return,
    job_deliver,
    job_fail,
    job_pick_up,
)
from jobs.dispatch.offers import OfferNoLongerAvailable, offer_accept
from jobs.dispatch.payloads import offer_frame, send_to_couriers_on_commit
from jobs.models import DeliveryOption, Job, JobStatus, Offer, OfferStatus
from jobs.photos import ProofImage
from jobs.sandbox.queue import robo_walk_queue
from jobs.sandbox.robots import (
    ROBO_USERNAME_PREFIX,
    is_builtin_robo,
    robo_courier_create,
    robo_move,
    robo_rest,
)
from jobs.sandbox.specs import robo_spec_of
from marketplace.api.errors import InvalidTransition, NotFoundError
from marketplace.eta import haversine_m
from marketplace.models import Shop

logger = logging.getLogger(__name__)
S = JobStatus
# How long a walk step's claim is kept (one step per job event, whoever runs it): long
# enough to stop a second chain of tasks, short enough that the dispatch sweeper can
# restart the walk of a pending job whose task was lost.
_CLAIM_TTL_SECONDS = 300
# Where the robo courier has nothing to do: the job ended, or is not yet (or no longer)
# in dispatch.
_NO_STEP = frozenset({S.SCHEDULED, S.UNASSIGNED, S.CANCELLED, S.DELIVERED, S.RETURNED})


class SandboxJobNotFound(NotFoundError):
    default_message = "No such sandbox job."


class NotRoboHeld(InvalidTransition):
    default_message = "This job is held by a courier the sandbox does not drive."


def sandbox_job_get(*, shop: Shop, job_pk: UUID | str) -> Job:
    """One of ``shop``'s jobs, if ``shop`` is a sandbox shop; otherwise 404 (no hint)."""
    job = Job.objects.filter(pk=job_pk, shop=shop, shop__is_sandbox=True).first()
    if job is None:
        raise SandboxJobNotFound()
    return job


def sandbox_advance(*, shop: Shop, job_pk: UUID | str) -> Job:
    """Move one of a sandbox shop's jobs one step, as its robo courier (404 / 409)."""
    job = sandbox_job_get(shop=shop, job_pk=job_pk)
    return robo_step(job_pk=job.pk)


def _no_next_step(job: Job) -> InvalidTransition:
    return InvalidTransition(
        f"A job that is {job.status} has no next step for the robo courier.",
        fields={"status": [job.status]},
    )


def robo_step(*, job_pk: UUID | str) -> Job:
    """One step of a sandbox job by its robo courier; the job afterwards.

    Raises ``InvalidTransition`` (409) when there is no next step (scheduled, unassigned,
    ended) or the job is held by a real courier (which the matching rules never allow).
    """
    job = Job.objects.select_related("shop", "courier__user").get(pk=job_pk)
    if not job.shop.is_sandbox or job.status in _NO_STEP:
        raise _no_next_step(job)
    if job.status == S.PENDING:
        return _take(job)
    courier = job.courier
    if courier is None or not courier.is_robo:
        raise NotRoboHeld(fields={"courier_id": [str(job.courier_id)]})
    spec = robo_spec_of(job.test_specifications)
    fail_at = spec.fail_at if spec else None
    actor = courier.user
    status = job.status
    if status == S.ASSIGNED:
        robo_move(courier=courier, to=job.pickup_point)
        job_arrive_pickup(job_pk=job.pk, courier=courier, actor=actor, point=job.pickup_point)
    elif status == S.AT_PICKUP:
        job_pick_up(job_pk=job.pk, courier=courier, actor=actor, point=job.pickup_point)
    elif status == S.PICKED_UP and fail_at == "pickup":
        _fail(job, courier, note="The robo courier failed after pickup (fail_at: pickup).")
    elif status == S.PICKED_UP:
        target = delivery_target(job)
        robo_move(courier=courier, to=target)
        job_arrive_dropoff(job_pk=job.pk, courier=courier, actor=actor, point=target)
    elif status == S.AT_DROPOFF and fail_at == "dropoff":
        _fail(job, courier, note="The robo courier failed at the dropoff (fail_at: dropoff).")
    elif status == S.AT_DROPOFF:
        _deliver(job, courier)
    elif status == S.RETURNING:
        robo_move(courier=courier, to=job.pickup_point)
        job_complete_return(job_pk=job.pk, courier=courier, actor=actor, point=job.pickup_point)
    else:  # failed: job_fail moves on to returning in the same transaction
        raise _no_next_step(job)
    job = Job.objects.select_related("shop").get(pk=job.pk)
    if job.status in (S.DELIVERED, S.RETURNED) and is_builtin_robo(courier):
        robo_rest(courier=courier)
    return job


def _take(job: Job) -> Job:
    """pending → assigned: the built-in robo courier gets an offer and accepts it."""
    offer = _robo_offer(job.pk)
    if offer is None:
        job.refresh_from_db()
        raise _no_next_step(job)
    accepted = offer_accept(offer_pk=offer.pk, courier=offer.courier)
    return Job.objects.select_related("shop").get(pk=accepted.job.pk)


def _robo_offer(job_pk: UUID) -> Offer | None:
    """An open offer of the pending job to a built-in robo courier: the one already made,
    or a new robo courier's (sent to its socket on commit, like dispatch's offers)."""
    now = timezone.now()
    with transaction.atomic():
        job = (
            Job.objects.select_for_update(of=("self",))
            .select_related("shop")
            .filter(pk=job_pk)
            .first()
        )
        if job is None or job.status != S.PENDING:
            return None
        open_offer = (
            Offer.objects.filter(
                job=job,
                status=OfferStatus.PENDING,
                expires_at__gt=now,
                courier__is_robo=True,
                courier__user__username__startswith=ROBO_USERNAME_PREFIX,
            )
            .select_related("courier__user")
            .first()
        )
        if open_offer is not None:
            return open_offer
        courier = robo_courier_create(job=job)
        offer = Offer.objects.create(
            job=job,
            courier=courier,
            dispatch_round=job.dispatch_round,
            dispatch_attempt=job.dispatch_attempt,
            distance_m=round(haversine_m(courier.current_point, job.pickup_point)),
            score=0.0,
            expires_at=now + timedelta(seconds=settings.OFFER_TTL_SECONDS),
        )
        send_to_couriers_on_commit([(courier.pk, offer_frame(offer, job))])
        return offer


def _fail(job: Job, courier: Courier, *, note: str) -> None:
    job_fail(
        job_pk=job.pk,
        courier=courier,
        actor=courier.user,
        reason=FailureReason.OTHER,
        note=note,
        point=courier.current_point,
    )


def _deliver(job: Job, courier: Courier) -> None:
    """Deliver at the delivery point with every proof the job's option asks for."""
    target = delivery_target(job)
    job_deliver(
        job_pk=job.pk,
        courier=courier,
        actor=courier.user,
        point=target,
        pin=job.recipient_pin if job.pin_required else "",
        photo=door_photo() if job.delivery_option == DeliveryOption.LEAVE_AT_DOOR else None,
        recipient_name=job.recipient_name,
        locker_id=job.locker_id if job.delivery_option == DeliveryOption.LOCKER else "",
    )


def door_photo() -> ProofImage:
    """A valid 1 x 1 pixel PNG: the robo courier's photo of the package at the door."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x2e\x7d\x32")
    data = (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
    return ProofImage(data=data, content_type="image/png", sha256=hashlib.sha256(data).hexdigest())


# --- The automatic walk (django-q2) ---------------------------------------------------------


def _claim(job_pk: UUID, seq: int) -> bool:
    """The walk's step after event ``seq`` is taken once, whichever task gets there first
    (a re-queued dispatch pass or a hand-made step may start a second chain of tasks)."""
    key = f"{settings.REDIS_KEY_PREFIX}:sandbox-robo:{job_pk}:{seq}"
    return bool(cache.add(key, 1, timeout=_CLAIM_TTL_SECONDS))


def robo_walk_step(*, job_pk: UUID | str) -> str:
    """One step of an ``auto`` walk, then the next one queued after ``step_delay_s``.

    Returns the job's status afterwards, or ``skipped`` when the job is not walked (not
    auto, not sandbox, gone, no step to take, or another task already took this step).
    A step someone else made first (``advance``) is not an error: the walk goes on from
    the job's new status.
    """
    job = Job.objects.select_related("shop").filter(pk=job_pk).first()
    spec = robo_spec_of(job.test_specifications) if job is not None else None
    if job is None or spec is None or spec.mode != "auto" or not job.shop.is_sandbox:
        return "skipped"
    if job.status in _NO_STEP or not _claim(job.pk, job.last_event_seq):
        return "skipped"
    seq = job.last_event_seq
    try:
        job = robo_step(job_pk=job.pk)
    except (InvalidTransition, OfferNoLongerAvailable) as refused:
        job.refresh_from_db()
        if job.last_event_seq == seq:  # nobody moved it: the walk cannot go on
            logger.warning("sandbox robo courier stopped on job %s: %s", job.pk, refused)
            return job.status
    if job.status not in _NO_STEP:
        robo_walk_queue(job_pk=job.pk, delay_s=spec.step_delay_s)
    return job.status
