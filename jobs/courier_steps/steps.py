"""The courier's steps that need no proof: arrivals, pickup, failure, return and drop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.contrib.gis.geos import Point
from django.db import transaction

from couriers.models import Courier
from jobs.courier_steps.base import (
    STEP_FROM,
    FailureNoteRequired,
    FailureReason,
    S,
    delivery_target,
    lock_courier_job,
    position_data,
    refuse_unless,
)
from jobs.lifecycle import job_transition
from jobs.models import Job, Offer, OfferStatus, PhotoKind
from jobs.photos import ProofImage, job_photo_store
from marketplace.models import User


def _position_step(
    *,
    job_pk: UUID | str,
    courier: Courier,
    actor: User,
    point: Point | None,
    step: str,
    to: S,
    target: Callable[[Job], Point],
    target_name: str,
) -> Job:
    """A step that carries only the courier's position; its event records how far the
    courier was from ``target(job)``, where they should be."""
    with transaction.atomic():
        job = lock_courier_job(job_pk=job_pk, courier=courier)
        job, _ = job_transition(
            job=job,
            to=to,
            actor=actor,
            point=point,
            data=position_data(point, target(job), target_name),
            expected_from=STEP_FROM[step],
        )
    return job


def job_arrive_pickup(
    *, job_pk: UUID | str, courier: Courier, actor: User, point: Point | None = None
) -> Job:
    """assigned -> at_pickup."""
    return _position_step(
        job_pk=job_pk,
        courier=courier,
        actor=actor,
        point=point,
        step="arrive-pickup",
        to=S.AT_PICKUP,
        target=lambda job: job.pickup_point,
        target_name="pickup",
    )


def job_arrive_dropoff(
    *, job_pk: UUID | str, courier: Courier, actor: User, point: Point | None = None
) -> Job:
    """picked_up -> at_dropoff."""
    return _position_step(
        job_pk=job_pk,
        courier=courier,
        actor=actor,
        point=point,
        step="arrive-dropoff",
        to=S.AT_DROPOFF,
        target=delivery_target,
        target_name="dropoff",
    )


def job_complete_return(
    *, job_pk: UUID | str, courier: Courier, actor: User, point: Point | None = None
) -> Job:
    """returning -> returned: the package is back at the pickup."""
    return _position_step(
        job_pk=job_pk,
        courier=courier,
        actor=actor,
        point=point,
        step="returned",
        to=S.RETURNED,
        target=lambda job: job.pickup_point,
        target_name="pickup",
    )


def job_pick_up(
    *,
    job_pk: UUID | str,
    courier: Courier,
    actor: User,
    point: Point | None = None,
    photo: ProofImage | None = None,
    barcode: str = "",
) -> Job:
    """at_pickup -> picked_up, with an optional photo of the package and/or its barcode."""
    with transaction.atomic():
        job = lock_courier_job(job_pk=job_pk, courier=courier)
        refuse_unless(job, "pickup")
        data: dict[str, Any] = position_data(point, job.pickup_point, "pickup")
        if photo is not None:
            stored = job_photo_store(job=job, image=photo, kind=PhotoKind.PICKUP, actor=actor)
            data["photo_id"] = str(stored.pk)
        if barcode:
            data["barcode"] = barcode
        job, _ = job_transition(
            job=job,
            to=S.PICKED_UP,
            actor=actor,
            point=point,
            data=data,
            expected_from=STEP_FROM["pickup"],
        )
    return job


def job_fail(
    *,
    job_pk: UUID | str,
    courier: Courier,
    actor: User,
    reason: FailureReason,
    note: str = "",
    point: Point | None = None,
) -> Job:
    """picked_up/at_dropoff -> failed -> returning, in one transaction (two events).

    The package always goes back to the pickup after a failed delivery, and ``failed``
    has no other way out, so the courier is not asked for a separate step. The note is
    stripped; reason ``other`` needs one (``FailureNoteRequired``, 400, nothing changes).
    """
    reason = FailureReason(reason)
    note = note.strip()
    if reason == FailureReason.OTHER and not note:
        raise FailureNoteRequired()
    with transaction.atomic():
        job = lock_courier_job(job_pk=job_pk, courier=courier)
        job, _ = job_transition(
            job=job,
            to=S.FAILED,
            actor=actor,
            point=point,
            reason=f"{reason.value}: {note}" if note else reason.value,
            data={"reason_code": reason.value, "note": note},
            expected_from=STEP_FROM["fail"],
        )
        job, _ = job_transition(
            job=job,
            to=S.RETURNING,
            actor=actor,
            point=point,
            reason="Taking the package back to the pickup.",
        )
    return job


def job_drop(
    *,
    job_pk: UUID | str,
    courier: Courier,
    actor: User,
    reason: str,
    point: Point | None = None,
) -> Job:
    """assigned/at_pickup -> pending: the courier gives the job back before pickup.

    job_transition clears the courier and queues dispatch on commit. The courier's
    accepted offer is withdrawn in the same transaction, so the next courier's accept does
    not meet the one-accepted-offer-per-job constraint (and this courier, who already has
    an offer row for the job, is not offered it again).
    """
    with transaction.atomic():
        job = lock_courier_job(job_pk=job_pk, courier=courier)
        job, _ = job_transition(
            job=job,
            to=S.PENDING,
            actor=actor,
            point=point,
            reason=reason,
            data={"dropped_by_courier_id": courier.pk},
            expected_from=STEP_FROM["drop"],
        )
        Offer.objects.filter(job=job, courier=courier, status=OfferStatus.ACCEPTED).update(
            status=OfferStatus.WITHDRAWN
        )
    return job
