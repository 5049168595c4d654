"""Delivery with proof (PIN, photo, signature, locker, geofence) and staff's PIN unlock."""

from __future__ import annotations

import hmac
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from couriers.models import Courier
from jobs.courier_steps.base import (
    STEP_FROM,
    GeofenceReasonRequired,
    JobNotFound,
    PinLocked,
    PinNotLocked,
    ProofRequired,
    S,
    WrongLocker,
    WrongPin,
    delivery_target,
    lock_courier_job,
    refuse_unless,
)
from jobs.lifecycle import job_transition
from jobs.models import DeliveryOption, Job, PhotoKind, ProofOfDelivery
from jobs.photos import ProofImage, job_photo_store
from marketplace.eta import haversine_m
from marketplace.models import User


def job_deliver(
    *,
    job_pk: UUID | str,
    courier: Courier,
    actor: User,
    point: Point,
    pin: str = "",
    photo: ProofImage | None = None,
    signature: ProofImage | None = None,
    recipient_name: str = "",
    locker_id: str = "",
    geofence_reason: str = "",
) -> ProofOfDelivery:
    """at_dropoff -> delivered, with the proof the job's delivery option asks for.

    Checks, under the job's row lock and in this order: the status; a locked PIN; missing
    proof (PIN, door photo, locker id); the locker id; the geofence (outside it a reason is
    required and the job is flagged for review); and last the PIN, so an attempt is only
    spent on an otherwise complete delivery. A wrong PIN is counted and committed before
    ``WrongPin`` is raised: refusing the delivery must not undo the count. So call it
    outside any transaction (an outer atomic block would roll the count back with it).

    The ProofOfDelivery row, photos and the delivered transition commit together.
    """
    refusal: WrongPin | None = None
    with transaction.atomic():
        job = lock_courier_job(job_pk=job_pk, courier=courier)
        refuse_unless(job, "deliver")
        if job.pin_required and job.is_pin_locked:
            raise PinLocked()
        _check_proof_present(job, pin=pin, photo=photo, locker_id=locker_id)
        target = delivery_target(job)
        distance_m = round(haversine_m(point, target))
        is_outside = distance_m > settings.DELIVERY_GEOFENCE_M
        if is_outside and not geofence_reason:
            raise GeofenceReasonRequired(
                f"You are {distance_m} m from the delivery point (allowed: "
                f"{settings.DELIVERY_GEOFENCE_M} m); say why in geofence_reason.",
                fields={"geofence_reason": ["Required when delivering outside the geofence."]},
            )
        if job.pin_required and not _pin_matches(pin, job.recipient_pin):
            refusal = _count_wrong_pin(job)
        else:
            proof = _record_delivery(
                job,
                actor=actor,
                point=point,
                photo=photo,
                signature=signature,
                recipient_name=recipient_name,
                distance_m=distance_m,
                is_outside=is_outside,
                geofence_reason=geofence_reason,
            )
    if refusal is not None:
        raise refusal  # after the block, so the counted attempt stays committed
    return proof


def _check_proof_present(job: Job, *, pin: str, photo: ProofImage | None, locker_id: str) -> None:
    missing: dict[str, list[str]] = {}
    if job.pin_required and not pin:
        missing["pin"] = ["This delivery needs the recipient's PIN."]
    if job.delivery_option == DeliveryOption.LEAVE_AT_DOOR and photo is None:
        missing["photo"] = ["Leaving at the door needs a photo."]
    if job.delivery_option == DeliveryOption.LOCKER and not locker_id:
        missing["locker_id"] = ["A locker delivery needs the locker's id."]
    if missing:
        raise ProofRequired(
            "This delivery needs more proof: " + ", ".join(missing) + ".", fields=missing
        )
    if job.delivery_option == DeliveryOption.LOCKER and locker_id != job.locker_id:
        raise WrongLocker(
            "locker_id: this is not the job's locker.",
            fields={"locker_id": ["This is not the job's locker."]},
        )


def _pin_matches(given: str, expected: str) -> bool:
    # An empty stored PIN never matches: a job that requires a PIN but has none is a bug.
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def _count_wrong_pin(job: Job) -> WrongPin:
    """Count one wrong PIN (the caller holds the row lock); lock the PIN at the limit."""
    limit = settings.PIN_MAX_ATTEMPTS
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(
        pin_failed_attempts=F("pin_failed_attempts") + 1, updated_at=now
    )
    job.refresh_from_db(fields=["pin_failed_attempts"])
    attempts_left = max(0, limit - job.pin_failed_attempts)
    if attempts_left == 0:
        Job.objects.filter(pk=job.pk).update(
            is_pin_locked=True,
            needs_review=True,
            review_reason=f"PIN locked after {job.pin_failed_attempts} wrong attempts.",
        )
        return WrongPin(
            "Wrong PIN. No attempts left: the PIN is locked until platform staff unlock it.",
            attempts_left=0,
        )
    noun = "attempt" if attempts_left == 1 else "attempts"
    return WrongPin(f"Wrong PIN. {attempts_left} {noun} left.", attempts_left=attempts_left)


def _record_delivery(
    job: Job,
    *,
    actor: User,
    point: Point,
    photo: ProofImage | None,
    signature: ProofImage | None,
    recipient_name: str,
    distance_m: int,
    is_outside: bool,
    geofence_reason: str,
) -> ProofOfDelivery:
    photo_row = (
        job_photo_store(job=job, image=photo, kind=PhotoKind.DELIVERY, actor=actor)
        if photo
        else None
    )
    signature_row = (
        job_photo_store(job=job, image=signature, kind=PhotoKind.SIGNATURE, actor=actor)
        if signature
        else None
    )
    proof = ProofOfDelivery.objects.create(
        job=job,
        is_pin_verified=job.pin_required,
        photo=photo_row,
        signature=signature_row,
        recipient_name=recipient_name,
        point=point,
        distance_to_dropoff_m=distance_m,
        is_outside_geofence=is_outside,
        geofence_reason=geofence_reason,
    )
    changes: dict[str, Any] = {}
    if is_outside:
        changes = {
            "needs_review": True,
            "review_reason": (
                f"Delivered {distance_m} m from the delivery point "
                f"(geofence {settings.DELIVERY_GEOFENCE_M} m): {geofence_reason}"
            )[:255],
        }
    job_transition(
        job=job,
        to=S.DELIVERED,
        actor=actor,
        point=point,
        data={
            "proof_id": proof.pk,
            "distance_to_dropoff_m": distance_m,
            "is_outside_geofence": is_outside,
            "is_pin_verified": proof.is_pin_verified,
        },
        changes=changes,
        expected_from=STEP_FROM["deliver"],
    )
    return proof


def job_pin_unlock(*, job_pk: UUID | str, actor: User, note: str = "") -> Job:
    """Staff reset a locked PIN: the courier gets PIN_MAX_ATTEMPTS fresh tries.

    Leaves no JobEvent (the status does not change); the audit note goes to
    ``review_reason`` and ``needs_review`` stays set.
    """
    with transaction.atomic():
        job = Job.objects.select_for_update(of=("self",)).filter(pk=job_pk).first()
        if job is None:
            raise JobNotFound()
        if not job.is_pin_locked:
            raise PinNotLocked()
        when = timezone.now()
        audit = (
            f"PIN unlocked by staff {actor.username} at {when:%Y-%m-%d %H:%M} UTC "
            f"after {job.pin_failed_attempts} wrong attempts."
        )
        job.is_pin_locked = False
        job.pin_failed_attempts = 0
        job.needs_review = True
        job.review_reason = (f"{audit} {note}" if note else audit)[:255]
        job.save(
            update_fields=[
                "is_pin_locked",
                "pin_failed_attempts",
                "needs_review",
                "review_reason",
                "updated_at",
            ]
        )
    return job
