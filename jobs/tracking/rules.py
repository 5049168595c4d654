"""When the recipient may do what, and the errors that say why not.

One place for the windows, so the endpoints refuse exactly what the page hides.
"""

from __future__ import annotations

from jobs.models import DeliveryOption, Job, JobStatus
from marketplace.api.errors import ConflictError

S = JobStatus
RECIPIENT_DELIVERY_OPTIONS = [
    (DeliveryOption.LEAVE_AT_DOOR.value, DeliveryOption.LEAVE_AT_DOOR.label),
    (DeliveryOption.LOCKER.value, DeliveryOption.LOCKER.label),
    (DeliveryOption.ALTERNATE_LOCATION.value, DeliveryOption.ALTERNATE_LOCATION.label),
]
BEFORE_PICKUP = frozenset({S.SCHEDULED, S.PENDING, S.UNASSIGNED, S.ASSIGNED, S.AT_PICKUP})
# Instructions still help the courier until they stand at the door.
INSTRUCTIONS_OPEN = BEFORE_PICKUP | {S.PICKED_UP}
AFTER_PICKUP = frozenset(
    {S.PICKED_UP, S.AT_DROPOFF, S.DELIVERED, S.FAILED, S.RETURNING, S.RETURNED}
)


class InstructionsClosed(ConflictError):
    code = "instructions_closed"
    default_message = (
        "Instructions can no longer be changed: the courier is at the door or the job is over."
    )


class AlreadyPickedUp(ConflictError):
    code = "already_picked_up"
    default_message = "The parcel has been picked up; this can no longer be changed."


class JobEnded(ConflictError):
    code = "job_ended"
    default_message = "This delivery has ended."


class RedirectTooFar(ConflictError):
    code = "redirect_too_far"
    default_message = "The new location is too far from the original drop-off."


class NotDelivered(ConflictError):
    code = "not_delivered"
    default_message = "A delivery can be rated once it has been delivered."


class AlreadyRated(ConflictError):
    code = "already_rated"
    default_message = "This delivery has already been rated."


class NotPickedUp(ConflictError):
    code = "not_picked_up"
    default_message = "A problem can be reported once the parcel has been picked up."


def check_before_pickup(job: Job) -> None:
    """Raise unless the job is still before pickup (delivery option, reschedule)."""
    if job.status == S.CANCELLED:
        raise JobEnded()
    if job.status not in BEFORE_PICKUP:
        raise AlreadyPickedUp(fields={"status": [job.status]})


def check_instructions_open(job: Job) -> None:
    if job.status == S.CANCELLED:
        raise JobEnded()
    if job.status not in INSTRUCTIONS_OPEN:
        raise InstructionsClosed(fields={"status": [job.status]})


def check_may_rate(job: Job, *, has_rating: bool) -> None:
    if job.status != S.DELIVERED:
        raise NotDelivered(fields={"status": [job.status]})
    if has_rating:
        raise AlreadyRated()


def check_may_report(job: Job) -> None:
    if job.status not in AFTER_PICKUP:
        raise NotPickedUp(fields={"status": [job.status]})


def allowed_actions(job: Job, *, has_rating: bool) -> list[str]:
    """The recipient actions open right now, by endpoint name."""
    actions = []
    if job.status in INSTRUCTIONS_OPEN:
        actions.append("instructions")
    if job.status in BEFORE_PICKUP:
        actions += ["delivery_option", "reschedule"]
    if job.status == S.DELIVERED and not has_rating:
        actions.append("rating")
    if job.status in AFTER_PICKUP:
        actions.append("problem")
    return actions
