"""The recipient's actions on the tracking link: instructions, delivery option, reschedule,
rating and problem reports.

Each one locks the job row, checks the window (``jobs.tracking.rules``; 409 with a code
that says why), saves, and writes a ``JobEvent`` with actor ``recipient`` through the
lifecycle, so the shop hears of it by webhook and on its socket, the recipient's page
updates, and the courier is told when it concerns them. None of them changes the price.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status

from couriers.services import courier_rating_record
from jobs.dispatch import WithdrawReason, offers_withdraw
from jobs.hooks import hook_run
from jobs.lifecycle import job_record_event, job_transition
from jobs.models import (
    ActorRole,
    DeliveryOption,
    EventKind,
    Job,
    JobRating,
    JobStatus,
    Offer,
    ProblemReason,
    RecipientProblem,
)
from jobs.pricing import smallest_vehicle_for
from jobs.quotes import OutsideServiceArea, zone_for_point
from jobs.tracking import rules
from marketplace.api.errors import ApplicationError
from marketplace.eta import haversine_m, straight_line_seconds

S = JobStatus
RECIPIENT_OPTIONS = frozenset(
    {DeliveryOption.LEAVE_AT_DOOR, DeliveryOption.LOCKER, DeliveryOption.ALTERNATE_LOCATION}
)
LOCKER_PASSCODE_DIGITS = 6
RESCHEDULE_MAX_DAYS = 7
# A window may start a little before the server's now (the phone's clock, the send).
RESCHEDULE_PAST_TOLERANCE = timedelta(minutes=1)


class InvalidRecipientInput(ApplicationError):
    code = "validation_error"
    status_code = status.HTTP_400_BAD_REQUEST


def _locked(job: Job) -> Job:
    return Job.objects.select_for_update(of=("self",)).select_related("shop").get(pk=job.pk)


def recipient_instructions_set(*, job: Job, text: str) -> Job:
    """Replace the recipient's instructions; open until the courier is at the drop-off."""
    with transaction.atomic():
        locked = _locked(job)
        rules.check_instructions_open(locked)
        locked.recipient_instructions = text
        locked.save(update_fields=["recipient_instructions", "updated_at"])
        job_record_event(
            job=locked,
            kind=EventKind.INSTRUCTIONS,
            actor=None,
            actor_role=ActorRole.RECIPIENT,
            data={"instructions": text},
            courier_payload={
                "type": "recipient_update",
                "kind": EventKind.INSTRUCTIONS.value,
                "instructions": text,
            },
        )
    return locked


def recipient_delivery_option_set(
    *,
    job: Job,
    option: str,
    locker_id: str = "",
    alternate_address: str = "",
    alternate_point: Point | None = None,
    alternate_note: str = "",
) -> Job:
    """Switch to ``leave_at_door``, ``locker`` (a fresh passcode) or ``alternate_location``.

    Until pickup (409 ``already_picked_up`` after, ``job_ended`` once cancelled). An
    alternate location must lie within RECIPIENT_MAX_REDIRECT_M of the original drop-off
    (409 ``redirect_too_far``) and inside an active zone (422 ``outside_service_area``).
    The price does not change. A hand-over PIN no longer applies once the parcel may be
    left without the recipient.
    """
    option = DeliveryOption(option)
    if option not in RECIPIENT_OPTIONS:
        raise InvalidRecipientInput(
            "Invalid input. delivery_option: not one the recipient may choose.",
            fields={"delivery_option": ["Choose leave_at_door, locker or alternate_location."]},
        )
    with transaction.atomic():
        locked = _locked(job)
        rules.check_before_pickup(locked)
        if option == DeliveryOption.ALTERNATE_LOCATION:
            _check_redirect(locked, alternate_point)
        changes: dict[str, Any] = {
            "delivery_option": option,
            "pin_required": False,
            "recipient_pin": "",
            "locker_id": locker_id if option == DeliveryOption.LOCKER else "",
            "locker_passcode": (
                f"{secrets.randbelow(10**LOCKER_PASSCODE_DIGITS):0{LOCKER_PASSCODE_DIGITS}d}"
                if option == DeliveryOption.LOCKER
                else ""
            ),
            "alternate_address": alternate_address if alternate_point else "",
            "alternate_point": alternate_point,
            "alternate_note": alternate_note if alternate_point else "",
        }
        for field, value in changes.items():
            setattr(locked, field, value)
        locked.save(update_fields=[*changes, "updated_at"])
        public = {
            "delivery_option": option.value,
            "locker_id": locked.locker_id,
            "alternate_location": (
                {"address": alternate_address, "lat": alternate_point.y, "lng": alternate_point.x}
                if alternate_point
                else None
            ),
            "alternate_note": locked.alternate_note,
        }
        job_record_event(
            job=locked,
            kind=EventKind.DELIVERY_OPTION,
            actor=None,
            actor_role=ActorRole.RECIPIENT,
            data=public,
            courier_payload={
                "type": "recipient_update",
                "kind": EventKind.DELIVERY_OPTION.value,
                **public,
            },
        )
    return locked


def _check_redirect(job: Job, point: Point | None) -> None:
    if point is None:
        raise InvalidRecipientInput(
            "Invalid input. alternate_location: required for alternate_location.",
            fields={"alternate_location": ["Required for the alternate_location option."]},
        )
    distance = haversine_m(job.dropoff_point, point)
    limit = settings.RECIPIENT_MAX_REDIRECT_M
    if distance > limit:
        raise rules.RedirectTooFar(
            f"The new location is {distance:.0f} m from the original drop-off; at most {limit} m.",
            fields={"alternate_location": [f"At most {limit} m from the original drop-off."]},
        )
    if zone_for_point(point) is None:
        raise OutsideServiceArea(
            "We do not serve the alternate location.",
            fields={"alternate_location": ["Outside every service zone."]},
        )


def _window_errors(
    deliver_after: datetime, deliver_before: datetime, *, now: datetime
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if deliver_after < now - RESCHEDULE_PAST_TOLERANCE:
        errors["deliver_after"] = ["Must not be in the past."]
    if deliver_before <= now:
        errors["deliver_before"] = ["Must be in the future."]
    elif deliver_before <= deliver_after:
        errors["deliver_before"] = ["Must be later than deliver_after."]
    elif deliver_before > now + timedelta(days=RESCHEDULE_MAX_DAYS):
        errors["deliver_before"] = [f"At most {RESCHEDULE_MAX_DAYS} days from now."]
    return errors


def recipient_reschedule(*, job: Job, deliver_after: datetime, deliver_before: datetime) -> Job:
    """Deliver between ``deliver_after`` and ``deliver_before`` instead; until pickup.

    The job goes back to ``scheduled``: open offers are withdrawn, an assigned courier is
    released, and the existing schedule releases it to dispatch in time to pick up about
    one (straight-line) trip before ``deliver_after``. Past, inverted or more than
    RESCHEDULE_MAX_DAYS days out → 400 ``validation_error``.
    """
    now = timezone.now()
    errors = _window_errors(deliver_after, deliver_before, now=now)
    if errors:
        message = " ".join(f"{name}: {msgs[0]}" for name, msgs in errors.items())
        raise InvalidRecipientInput(f"Invalid input. {message}", fields=errors)
    with transaction.atomic():
        locked = _locked(job)
        rules.check_before_pickup(locked)
        vehicle = smallest_vehicle_for(locked.package_size).value
        trip = timedelta(
            seconds=straight_line_seconds(
                haversine_m(locked.pickup_point, locked.dropoff_point), vehicle
            )
        )
        pickup_after = max(now, deliver_after - trip)
        release_at = pickup_after - timedelta(seconds=settings.SCHEDULE_LEAD_TIME_SECONDS)
        window = {
            "deliver_after": deliver_after.isoformat(),
            "deliver_before": deliver_before.isoformat(),
        }
        rescheduled, _ = job_transition(
            job=locked,
            to=S.SCHEDULED,
            actor=None,
            actor_role=ActorRole.RECIPIENT,
            kind=EventKind.RESCHEDULED,
            reason="rescheduled by the recipient",
            data=window,
            changes={
                "deliver_after": deliver_after,
                "deliver_before": deliver_before,
                "pickup_after": pickup_after,
                "release_at": release_at,
            },
            expected_from=rules.BEFORE_PICKUP,
        )
        offers_withdraw(
            Offer.objects.filter(job=rescheduled), reason=WithdrawReason.JOB_UNAVAILABLE
        )
    return rescheduled


def recipient_rate(*, job: Job, stars: int, comment: str = "") -> JobRating:
    """Rate a delivered job once (409 ``not_delivered`` / ``already_rated``); the stars
    go into the courier's rating."""
    try:
        with transaction.atomic():
            locked = _locked(job)
            has_rating = JobRating.objects.filter(job=locked).exists()
            rules.check_may_rate(locked, has_rating=has_rating)
            rating = JobRating.objects.create(
                job=locked, courier_id=locked.courier_id, stars=stars, comment=comment
            )
            if locked.courier_id is not None:
                courier_rating_record(courier_pk=locked.courier_id, stars=stars)
            job_record_event(
                job=locked,
                kind=EventKind.RATED,
                actor=None,
                actor_role=ActorRole.RECIPIENT,
                data={"stars": stars, "comment": comment},
            )
    except IntegrityError:
        # The row lock makes this unreachable; the one-rating-per-job constraint backs it.
        raise rules.AlreadyRated() from None
    return rating


def recipient_problem_report(*, job: Job, reason: str, text: str) -> RecipientProblem:
    """Report a problem after pickup (409 ``not_picked_up`` before); for staff and the shop."""
    with transaction.atomic():
        locked = _locked(job)
        rules.check_may_report(locked)
        problem = RecipientProblem.objects.create(
            job=locked, reason=ProblemReason(reason), text=text, job_status=locked.status
        )
        job_record_event(
            job=locked,
            kind=EventKind.PROBLEM,
            actor=None,
            actor_role=ActorRole.RECIPIENT,
            data={"problem_id": problem.pk, "reason": reason, "text": text},
        )
        hook_run("problem_reported", problem=problem)
    return problem
