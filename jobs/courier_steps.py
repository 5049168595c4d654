"""The courier's side of a job: each step, proof of delivery, dropping a job, PIN lockout.

Writes (services) come first, then the reads the courier and proof views need. Every
status change goes through ``jobs.lifecycle.job_transition``; these services lock the job
row first (``SELECT ... FOR UPDATE``) so the checks they make before it still hold.
"""

from __future__ import annotations

import hmac
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import transaction
from django.db.models import Case, F, IntegerField, QuerySet, TextChoices, Value, When
from django.utils import timezone
from rest_framework import status

from couriers.models import Courier
from jobs.lifecycle import job_transition
from jobs.models import (
    COURIER_ACTIVE_STATUSES,
    DeliveryOption,
    Job,
    JobPhoto,
    JobStatus,
    Offer,
    OfferStatus,
    PhotoKind,
    ProofOfDelivery,
)
from jobs.photos import ProofImage, job_photo_store
from marketplace.api.errors import ApplicationError, ConflictError, InvalidTransition
from marketplace.models import Role, User
from marketplace.routing import haversine_m

S = JobStatus

# Step name (as in the URL) -> the statuses it starts from.
STEP_FROM: dict[str, frozenset[JobStatus]] = {
    "arrive-pickup": frozenset({S.ASSIGNED}),
    "pickup": frozenset({S.AT_PICKUP}),
    "arrive-dropoff": frozenset({S.PICKED_UP}),
    "deliver": frozenset({S.AT_DROPOFF}),
    "fail": frozenset({S.PICKED_UP, S.AT_DROPOFF}),
    "returned": frozenset({S.RETURNING}),
    "drop": frozenset({S.ASSIGNED, S.AT_PICKUP}),
}


class FailureReason(TextChoices):
    RECIPIENT_ABSENT = "recipient_absent", "Recipient not there"
    ADDRESS_NOT_FOUND = "address_not_found", "Address not found"
    REFUSED = "refused", "Recipient refused the package"
    DAMAGED = "damaged", "Package damaged"
    UNSAFE = "unsafe", "Unsafe to deliver"
    OTHER = "other", "Other (see note)"


class JobNotFound(ApplicationError):
    code = "not_found"
    status_code = status.HTTP_404_NOT_FOUND
    default_message = "No such job."


class ProofRequired(ApplicationError):
    code = "proof_required"
    default_message = "This delivery needs more proof."


class WrongLocker(ApplicationError):
    code = "wrong_locker"
    default_message = "This is not the locker the job names."


class GeofenceReasonRequired(ApplicationError):
    code = "geofence_reason_required"
    default_message = "You are outside the delivery area; say why in geofence_reason."


class WrongPin(ApplicationError):
    """A wrong PIN. The attempt is recorded even though the delivery is refused."""

    code = "wrong_pin"
    default_message = "Wrong PIN."

    def __init__(self, message: str, *, attempts_left: int) -> None:
        self.attempts_left = attempts_left
        super().__init__(message, fields={"pin": [message]})


class PinLocked(ConflictError):
    code = "pin_locked"
    default_message = (
        "Too many wrong PINs: this job's PIN is locked until platform staff unlock it."
    )


class PinNotLocked(ConflictError):
    code = "pin_not_locked"
    default_message = "This job's PIN is not locked."


# --- Writes ------------------------------------------------------------------------------


def _lock_courier_job(*, job_pk: UUID | str, courier: Courier) -> Job:
    """The courier's own job, row-locked. Call inside ``transaction.atomic``."""
    job = (
        Job.objects.select_for_update(of=("self",))
        .filter(pk=job_pk, courier=courier)
        .select_related("shop")
        .first()
    )
    if job is None:
        raise JobNotFound()
    return job


def _refuse_unless(job: Job, step: str) -> None:
    """Refuse a step the job's status does not allow, in job_transition's words (HTTP 409)."""
    if job.status not in STEP_FROM[step]:
        raise InvalidTransition(
            f"A job that is {job.status} cannot take the {step} step.",
            fields={"status": [job.status]},
        )


def _position_data(point: Point | None, target: Point, name: str) -> dict[str, Any]:
    if point is None:
        return {}
    return {f"distance_to_{name}_m": round(haversine_m(point, target))}


def job_arrive_pickup(
    *, job_pk: UUID | str, courier: Courier, actor: User, point: Point | None = None
) -> Job:
    """assigned -> at_pickup."""
    with transaction.atomic():
        job = _lock_courier_job(job_pk=job_pk, courier=courier)
        job, _ = job_transition(
            job=job,
            to=S.AT_PICKUP,
            actor=actor,
            point=point,
            data=_position_data(point, job.pickup_point, "pickup"),
            expected_from=STEP_FROM["arrive-pickup"],
        )
    return job


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
        job = _lock_courier_job(job_pk=job_pk, courier=courier)
        _refuse_unless(job, "pickup")
        data: dict[str, Any] = _position_data(point, job.pickup_point, "pickup")
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


def job_arrive_dropoff(
    *, job_pk: UUID | str, courier: Courier, actor: User, point: Point | None = None
) -> Job:
    """picked_up -> at_dropoff."""
    with transaction.atomic():
        job = _lock_courier_job(job_pk=job_pk, courier=courier)
        job, _ = job_transition(
            job=job,
            to=S.AT_DROPOFF,
            actor=actor,
            point=point,
            data=_position_data(point, delivery_target(job), "dropoff"),
            expected_from=STEP_FROM["arrive-dropoff"],
        )
    return job


def delivery_target(job: Job) -> Point:
    """Where the package must end up: the alternate point when the recipient chose one."""
    if job.delivery_option == DeliveryOption.ALTERNATE_LOCATION and job.alternate_point:
        return job.alternate_point
    return job.dropoff_point


def proof_requirements(job: Job) -> dict[str, Any]:
    """What ``deliver`` will ask for on this job (never the PIN or passcode themselves)."""
    target = delivery_target(job)
    return {
        "position": True,
        "pin": job.pin_required,
        "photo": job.delivery_option == DeliveryOption.LEAVE_AT_DOOR,
        "locker_id": job.delivery_option == DeliveryOption.LOCKER,
        "signature": False,
        "geofence_m": settings.DELIVERY_GEOFENCE_M,
        "geofence_point": target,
    }


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
    ``WrongPin`` is raised: refusing the delivery must not undo the count.

    The ProofOfDelivery row, photos and the delivered transition commit together.
    """
    refusal: WrongPin | None = None
    with transaction.atomic():
        job = _lock_courier_job(job_pk=job_pk, courier=courier)
        _refuse_unless(job, "deliver")
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
    has no other way out, so the courier is not asked for a separate step.
    """
    reason = FailureReason(reason)
    with transaction.atomic():
        job = _lock_courier_job(job_pk=job_pk, courier=courier)
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


def job_complete_return(
    *, job_pk: UUID | str, courier: Courier, actor: User, point: Point | None = None
) -> Job:
    """returning -> returned: the package is back at the pickup."""
    with transaction.atomic():
        job = _lock_courier_job(job_pk=job_pk, courier=courier)
        job, _ = job_transition(
            job=job,
            to=S.RETURNED,
            actor=actor,
            point=point,
            data=_position_data(point, job.pickup_point, "pickup"),
            expected_from=STEP_FROM["returned"],
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
        job = _lock_courier_job(job_pk=job_pk, courier=courier)
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


# --- Reads -------------------------------------------------------------------------------


def courier_jobs_list(*, courier: Courier) -> QuerySet[Job]:
    """The courier's jobs: the active one first, then the most recently assigned."""
    return (
        Job.objects.filter(courier=courier)
        .select_related("proof")
        .annotate(
            active_rank=Case(
                When(status__in=COURIER_ACTIVE_STATUSES, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("active_rank", F("assigned_at").desc(nulls_last=True), "-created_at", "pk")
    )


def courier_job_get(*, courier: Courier, job_pk: UUID | str) -> Job:
    """One of the courier's own jobs; any other job is 'not found'."""
    job = Job.objects.filter(pk=job_pk, courier=courier).select_related("proof").first()
    if job is None:
        raise JobNotFound()
    return job


def job_get_for_viewer(*, user: User, job_pk: UUID | str, allow_courier: bool = False) -> Job:
    """A job the user may see: staff any, a shop its own, the assigned courier if allowed."""
    jobs = Job.objects.all()
    role = user.role
    if role == Role.SHOP:
        jobs = jobs.filter(shop_id=user.shop_id)
    elif role == Role.COURIER and allow_courier:
        jobs = jobs.filter(courier__user=user)
    elif role != Role.STAFF:
        raise JobNotFound()
    job = jobs.filter(pk=job_pk).first()
    if job is None:
        raise JobNotFound()
    return job


def job_proof_get(*, job: Job) -> ProofOfDelivery:
    proof = ProofOfDelivery.objects.filter(job=job).first()
    if proof is None:
        raise JobNotFound("This job has no proof of delivery yet.")
    return proof


def job_photos_list(*, job: Job) -> QuerySet[JobPhoto]:
    """The job's photos without their bytes."""
    return JobPhoto.objects.filter(job=job).defer("data").order_by("created_at", "pk")


def job_photo_get(*, job: Job, photo_pk: UUID | str) -> JobPhoto:
    photo = JobPhoto.objects.filter(job=job, pk=photo_pk).first()
    if photo is None:
        raise JobNotFound("No such photo on this job.")
    return photo
