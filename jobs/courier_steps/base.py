"""What the courier steps share: the steps table, failure reasons, errors, the row lock."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.gis.geos import Point
from django.db.models import TextChoices

from couriers.models import Courier
from jobs.models import DeliveryOption, Job, JobStatus
from marketplace.api.errors import ApplicationError, ConflictError, InvalidTransition, NotFoundError
from marketplace.eta import haversine_m

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


def job_next_steps(job: Job) -> list[str]:
    """The steps the courier may take next on ``job``, in the order of ``STEP_FROM``."""
    return [step for step, sources in STEP_FROM.items() if job.status in sources]


class FailureReason(TextChoices):
    RECIPIENT_ABSENT = "recipient_absent", "Recipient not there"
    ADDRESS_NOT_FOUND = "address_not_found", "Address not found"
    REFUSED = "refused", "Recipient refused the package"
    DAMAGED = "damaged", "Package damaged"
    UNSAFE = "unsafe", "Unsafe to deliver"
    OTHER = "other", "Other (see note)"


class FailureNoteRequired(ApplicationError):
    code = "validation_error"
    default_message = "Invalid input. note: Say what happened."

    def __init__(self) -> None:
        super().__init__(fields={"note": ["Say what happened."]})


class JobNotFound(NotFoundError):
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


def lock_courier_job(*, job_pk: UUID | str, courier: Courier) -> Job:
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


def refuse_unless(job: Job, step: str) -> None:
    """Refuse a step the job's status does not allow, in job_transition's words (HTTP 409)."""
    if job.status not in STEP_FROM[step]:
        raise InvalidTransition(
            f"A job that is {job.status} cannot take the {step} step.",
            fields={"status": [job.status]},
        )


def position_data(point: Point | None, target: Point, name: str) -> dict[str, Any]:
    """Event data: how far from ``target`` the courier said they were (nothing if unsaid)."""
    if point is None:
        return {}
    return {f"distance_to_{name}_m": round(haversine_m(point, target))}


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
