"""The shop's writes on jobs: post (idempotently), cancel, re-post, and the scheduled release."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework import status

from jobs.dispatch import WithdrawReason, offers_withdraw
from jobs.hooks import hook_run
from jobs.lifecycle import job_insert, job_transition
from jobs.models import (
    DeliveryOption,
    Job,
    JobStatus,
    Offer,
    PricedTrip,
    Quote,
    new_tracking_salt,
)
from jobs.quotes import (
    OutsideServiceArea,
    Stop,
    TripSpec,
    deadline_check,
    trip_duration_seconds,
    trip_price,
    window_check,
    zone_for_point,
)
from jobs.sandbox.rules import test_specifications_allowed
from jobs.tracking.tokens import tracking_hash_for
from marketplace.api.errors import ApplicationError, ConflictError, InvalidTransition, NotFoundError
from marketplace.models import Shop, User

S = JobStatus
# A shop cancels for free until the courier reaches the pickup, for the zone's fee while
# the courier waits there, and not at all once the package is picked up.
CANCEL_FREE_FROM = frozenset({S.SCHEDULED, S.PENDING, S.UNASSIGNED, S.ASSIGNED})
CANCEL_WITH_FEE_FROM = frozenset({S.AT_PICKUP})
PIN_DIGITS = 4
LOCKER_PASSCODE_DIGITS = 6


class IdempotencyConflict(ConflictError):
    code = "idempotency_conflict"
    default_message = "This Idempotency-Key was already used with a different request body."


class QuoteExpired(ConflictError):
    code = "quote_expired"
    default_message = "The quote has expired; ask for a new one."


class QuoteAlreadyUsed(ConflictError):
    code = "quote_used"
    default_message = "The quote was already turned into a job."


class QuoteNotFound(NotFoundError):
    default_message = "No such quote."


class InvalidDeliveryOptions(ApplicationError):
    code = "validation_error"
    status_code = status.HTTP_400_BAD_REQUEST


@dataclass(frozen=True)
class DeliveryOptions:
    option: str = DeliveryOption.HAND_TO_RECIPIENT
    pin_required: bool = False
    locker_id: str = ""
    alternate_location: Stop | None = None
    alternate_note: str = ""


@dataclass(frozen=True)
class Recipient:
    name: str = ""
    phone: str = ""
    email: str = ""


@dataclass(frozen=True)
class JobExtras:
    """What a job carries beyond the priced trip."""

    delivery: DeliveryOptions = field(default_factory=DeliveryOptions)
    recipient: Recipient = field(default_factory=Recipient)
    tip_minor: int = 0
    external_ref: str = ""
    # Sandbox shops only (jobs.sandbox.specs, already parsed); None for every other job.
    test_specifications: dict[str, Any] | None = None


def delivery_option_errors(delivery: DeliveryOptions) -> dict[str, list[str]]:
    """Fields the chosen option needs but lacks, or has but must not (by field name)."""
    option = DeliveryOption(delivery.option)
    errors: dict[str, list[str]] = {}
    if option == DeliveryOption.LOCKER and not delivery.locker_id:
        errors["locker_id"] = ["Required for the locker option."]
    if option == DeliveryOption.ALTERNATE_LOCATION:
        if delivery.alternate_location is None:
            errors["alternate_location"] = ["Required for the alternate_location option."]
        if not delivery.alternate_note:
            errors["alternate_note"] = ["Required for the alternate_location option."]
    only_for = {
        "pin_required": (delivery.pin_required, DeliveryOption.HAND_TO_RECIPIENT),
        "locker_id": (delivery.locker_id, DeliveryOption.LOCKER),
        "alternate_location": (delivery.alternate_location, DeliveryOption.ALTERNATE_LOCATION),
        "alternate_note": (delivery.alternate_note, DeliveryOption.ALTERNATE_LOCATION),
    }
    for name, (value, allowed_option) in only_for.items():
        if value and option != allowed_option:
            errors[name] = [f"Only allowed with delivery_option {allowed_option.value}."]
    return errors


def _digits(count: int) -> str:
    return f"{secrets.randbelow(10**count):0{count}d}"


def _priced_fields_from_quote(quote: Quote) -> dict[str, object]:
    names = [f.attname for f in PricedTrip._meta.concrete_fields]
    return {name: getattr(quote, name) for name in names}


def _lock_idempotency_key(shop: Shop, key: str) -> None:
    """Serialise posts with the same shop and key until this transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"job-post:{shop.pk}:{key}"]
        )


def _replay(shop: Shop, key: str, fingerprint: str) -> Job | None:
    existing = Job.objects.filter(shop=shop, idempotency_key=key).first()
    if existing is not None and existing.request_fingerprint != fingerprint:
        raise IdempotencyConflict(fields={"Idempotency-Key": [IdempotencyConflict.default_message]})
    return existing


# Response fields that carry the live tracking token: never stored, filled in on replay.
UNSTORED_RESPONSE_FIELDS = ("tracking_token", "tracking_url")


# What a post answered: status code and body, rendered by the API.
ResponseRenderer = Callable[[Job], tuple[int, dict[str, Any]]]


def _store_first_response(job: Job, render_response: ResponseRenderer) -> None:
    """Keep the answer to an idempotent post with its key, for replays (same transaction)."""
    status_code, body = render_response(job)
    job.idempotent_status = status_code
    job.idempotent_body = {
        name: value for name, value in body.items() if name not in UNSTORED_RESPONSE_FIELDS
    }
    job.save(update_fields=["idempotent_status", "idempotent_body"])


def job_idempotent_response(job: Job) -> tuple[int, dict[str, Any]] | None:
    """The stored first answer (status, body without the tracking fields), if any."""
    if job.idempotent_status is None or job.idempotent_body is None:
        return None
    return job.idempotent_status, dict(job.idempotent_body)


def _initial_status(
    pickup_after: datetime | None, now: datetime
) -> tuple[JobStatus, datetime | None]:
    lead = timedelta(seconds=settings.SCHEDULE_LEAD_TIME_SECONDS)
    if pickup_after is not None and pickup_after > now + lead:
        return S.SCHEDULED, pickup_after - lead
    return S.PENDING, None


def job_post(
    *,
    shop: Shop,
    actor: User,
    quote_id: UUID | None = None,
    trip: TripSpec | None = None,
    extras: JobExtras,
    idempotency_key: str | None = None,
    request_fingerprint: str = "",
    render_response: ResponseRenderer | None = None,
) -> tuple[Job, bool]:
    """Turn the shop's quote, or a trip priced on the spot, into a job; True if created.

    Give exactly one of ``quote_id`` and ``trip``. With an ``idempotency_key`` a second call
    with the same key and fingerprint returns the first job (False); a different
    fingerprint raises ``IdempotencyConflict``. ``render_response`` (the API's status code
    and body for the new job) is called at the end of the same transaction and its answer
    kept with the key, so a replay answers exactly that (``job_idempotent_response``), as
    Stripe does. Same-key calls are serialised by a
    transaction-level advisory lock, and the unique constraint
    job_unique_idempotency_key_per_shop backs it up. A quote is row-locked while used.

    The job starts ``scheduled`` (released ``SCHEDULE_LEAD_TIME_SECONDS`` before
    ``pickup_after``) or ``pending``; its first event and side effects (dispatch on
    commit for a pending job) come from ``job_insert`` in the same transaction.

    Payment comes first: the job is priced and validated, the ``authorise`` hook runs
    outside any transaction (a refusal raises and nothing is saved), and only then is the
    job saved, so no job is ever dispatched unauthorised. If saving fails after all, the
    ``abandon`` hook undoes the authorisation. With a key the job's id is derived from
    (shop, key), so racing retries authorise the same job once.
    """
    if (quote_id is None) == (trip is None):
        raise ValueError("job_post needs exactly one of quote_id and trip")
    with transaction.atomic():
        if idempotency_key is not None:
            _lock_idempotency_key(shop, idempotency_key)
            existing = _replay(shop, idempotency_key, request_fingerprint)
            if existing is not None:
                return existing, False
        job_pk = (
            uuid5(_POST_KEY_NAMESPACE, f"{shop.pk}:{idempotency_key}")
            if idempotency_key is not None
            else uuid.uuid4()
        )
        draft = _job_create(
            shop=shop, actor=actor, quote_id=quote_id, trip=trip, extras=extras, job_pk=job_pk
        )
    if idempotency_key is not None:
        draft.idempotency_key = idempotency_key
        draft.request_fingerprint = request_fingerprint
    hook_run("authorise", job=draft)
    try:
        job, created = _job_save(
            draft, actor=actor, fingerprint=request_fingerprint, render_response=render_response
        )
    except BaseException:
        hook_run("abandon", job_pk=draft.pk)
        raise
    if not created and job.pk != draft.pk:
        hook_run("abandon", job_pk=draft.pk)
    return job, created


# Namespace of the job ids derived from a shop's Idempotency-Key.
_POST_KEY_NAMESPACE = UUID("6f1c1d0e-58a4-4c55-9a57-1f0d3c0b7a11")


def _job_save(
    draft: Job, *, actor: User, fingerprint: str, render_response: ResponseRenderer | None
) -> tuple[Job, bool]:
    """Save the priced, authorised draft unless a racing post with its key won (replay)."""
    key = draft.idempotency_key
    try:
        with transaction.atomic():
            if key is not None:
                _lock_idempotency_key(draft.shop, key)
                existing = _replay(draft.shop, key, fingerprint)
                if existing is not None:
                    return existing, False
            if draft.quote_id is not None:
                quote = Quote.objects.select_for_update().get(pk=draft.quote_id)
                if Job.objects.filter(quote=quote).exists():
                    raise QuoteAlreadyUsed(fields={"quote_id": [QuoteAlreadyUsed.default_message]})
            job_insert(job=draft, actor=actor)  # the job and its first event: one statement
            hook_run("created", job=draft)
            if key is not None and render_response is not None:
                _store_first_response(draft, render_response)
            return draft, True
    except IntegrityError:
        # Only reachable if the advisory lock was bypassed; the constraint still holds.
        if key is None:
            raise
        existing = _replay(draft.shop, key, fingerprint)
        if existing is None:
            raise
        return existing, False


def _job_create(
    *,
    shop: Shop,
    actor: User,
    quote_id: UUID | None,
    trip: TripSpec | None,
    extras: JobExtras,
    job_pk: UUID,
) -> Job:
    """An unsaved job with its price, status, delivery secrets; validation errors raise."""
    test_specifications_allowed(shop=shop, test_specifications=extras.test_specifications)
    delivery = extras.delivery
    errors = delivery_option_errors(delivery)
    if errors:
        raise InvalidDeliveryOptions(
            "Invalid input. " + " ".join(f"{name}: {msgs[0]}" for name, msgs in errors.items()),
            fields=errors,
        )
    now = timezone.now()
    if quote_id is not None:
        quote = Quote.objects.select_for_update().filter(pk=quote_id, shop=shop).first()
        if quote is None:
            raise QuoteNotFound(fields={"quote_id": ["No such quote."]})
        if Job.objects.filter(quote=quote).exists():
            raise QuoteAlreadyUsed(fields={"quote_id": [QuoteAlreadyUsed.default_message]})
        if quote.expires_at <= now:
            raise QuoteExpired(fields={"quote_id": [QuoteExpired.default_message]})
        # The window was checked when quoting; only its end can have passed since.
        window_check(pickup_after=None, deliver_before=quote.deliver_before)
        deadline_check(
            pickup_after=quote.pickup_after,
            deliver_before=quote.deliver_before,
            trip_seconds=quote.dropoff_eta_s,
        )
        priced = _priced_fields_from_quote(quote)
    else:
        window_check(pickup_after=trip.pickup_after, deliver_before=trip.deliver_before)
        spec = trip_price(trip=trip, sandbox=shop.is_sandbox)
        deadline_check(
            pickup_after=trip.pickup_after,
            deliver_before=trip.deliver_before,
            trip_seconds=trip_duration_seconds(trip=trip, priced=spec),
        )
        priced = spec.model_fields(trip)
        quote = None
    alternate = delivery.alternate_location
    if alternate is not None and zone_for_point(alternate.point) is None:
        raise OutsideServiceArea(
            "We do not serve the alternate location.",
            fields={"alternate_location": ["Outside every service zone."]},
        )
    status_, release_at = _initial_status(priced["pickup_after"], now)
    recipient = extras.recipient
    salt = new_tracking_salt()
    job = Job(
        id=job_pk,
        tracking_salt=salt,
        tracking_token_hash=tracking_hash_for(job_pk=job_pk, salt=salt),
        last_event_seq=1,  # its first event, written in the same transaction
        shop=shop,
        quote=quote,
        status=status_,
        release_at=release_at,
        external_ref=extras.external_ref,
        tip_minor=extras.tip_minor,
        delivery_option=delivery.option,
        recipient_name=recipient.name or priced["dropoff_contact_name"],
        recipient_phone=recipient.phone or priced["dropoff_contact_phone"],
        recipient_email=recipient.email,
        pin_required=delivery.pin_required,
        recipient_pin=_digits(PIN_DIGITS) if delivery.pin_required else "",
        locker_id=delivery.locker_id,
        locker_passcode=(
            _digits(LOCKER_PASSCODE_DIGITS) if delivery.option == DeliveryOption.LOCKER else ""
        ),
        alternate_address=alternate.address if alternate else "",
        alternate_point=alternate.point if alternate else None,
        alternate_note=delivery.alternate_note,
        test_specifications=extras.test_specifications,
        **priced,
    )
    return job


def job_cancel(*, job: Job, actor: User, reason: str) -> Job:
    """The shop cancels: free before the courier reaches the pickup, the zone's
    cancellation fee while at pickup (stored in cancellation_fee_charged_minor, not
    charged here: payments act on it), refused (InvalidTransition, 409) after pickup.
    Open offers for the job are withdrawn in the same transaction.

    Takes the job's row lock itself so the fee matches the status it cancels from.
    """
    with transaction.atomic():
        locked = Job.objects.select_for_update(of=("self",)).select_related("zone").get(pk=job.pk)
        fee = locked.zone.cancellation_fee_minor if locked.status == S.AT_PICKUP else 0
        cancelled, _ = job_transition(
            job=locked,
            to=S.CANCELLED,
            actor=actor,
            reason=reason,
            data={"cancellation_fee_minor": fee},
            changes={"cancellation_fee_charged_minor": fee},
            expected_from=CANCEL_FREE_FROM | CANCEL_WITH_FEE_FROM,
        )
        # Couriers still looking at an offer for it are told at once (on commit).
        offers_withdraw(Offer.objects.filter(job=cancelled), reason=WithdrawReason.JOB_UNAVAILABLE)
    return cancelled


def job_repost(*, job: Job, actor: User) -> Job:
    """Send a job nobody took (unassigned) through dispatch again.

    The ``release`` hook runs first (payments authorises again when the job's card hold
    was released while it sat unassigned); its error is the answer and nothing moves.
    """
    if job.status == S.UNASSIGNED:
        hook_run("release", job_pk=job.pk)
    reposted, _ = job_transition(
        job=job,
        to=S.PENDING,
        actor=actor,
        reason="re-posted",
        expected_from=frozenset({S.UNASSIGNED}),
    )
    return reposted


def jobs_release_due(*, now: datetime | None = None) -> list[str]:
    """Hand every scheduled job whose release time has come to dispatch (→ pending).

    Safe to run concurrently: each move locks its job, and a job released or cancelled
    in the meantime is skipped. Returns the released job ids.
    """
    now = now or timezone.now()
    due = Job.objects.filter(status=S.SCHEDULED, release_at__lte=now).order_by("release_at")
    released = []
    for pk in due.values_list("pk", flat=True):
        try:
            hook_run("release", job_pk=pk)
        except ApplicationError as refused:
            if refused.status_code < 500:
                _job_cancel_unreleasable(pk, reason=refused.code)
            continue  # a 5xx (e.g. Stripe did not answer): the next run tries again
        try:
            job_transition(
                job=pk,
                to=S.PENDING,
                actor=None,
                reason="scheduled release",
                expected_from=frozenset({S.SCHEDULED}),
            )
        except ApplicationError:  # moved meanwhile, or its hold was released: next run
            continue
        released.append(str(pk))
    return released


def _job_cancel_unreleasable(pk: UUID, *, reason: str) -> None:
    """A scheduled job that may not go to dispatch (e.g. its card was declined) is
    cancelled; the shop hears of it through the usual job update and webhook."""
    try:
        job_transition(
            job=pk,
            to=S.CANCELLED,
            actor=None,
            reason=reason,
            data={"reason": reason},
            expected_from=frozenset({S.SCHEDULED}),
        )
    except InvalidTransition:
        return
