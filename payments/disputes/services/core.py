"""Opening a dispute, the courier's reply, rejecting and asking for information.

Every service locks the dispute row (``select_for_update``) before it reads the state, so
two calls on one dispute run one after the other; the lock order is dispute, then the
job's payment, then its transfers. Each writes one ``DisputeAction`` under its
idempotency key: the same key again returns the first action and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.models import Job, JobStatus, RecipientProblem
from jobs.photos import ProofImage
from marketplace.models import User
from payments.disputes import permissions as perms
from payments.disputes.events import dispute_notify
from payments.disputes.selectors import claim_limits
from payments.disputes.services.errors import (
    DisputeAlreadyOpen,
    DisputeAmountError,
    DisputeInvalidInput,
    DisputeNotAllowed,
    DisputeNotFound,
    DisputePermissionDenied,
    DisputeStateError,
    IdempotencyKeyReused,
)
from payments.models import (
    Dispute,
    DisputeAction,
    DisputeActionKind,
    DisputeMessage,
    DisputeOpener,
    DisputeParty,
    DisputePhoto,
    DisputeReason,
    DisputeResolution,
    DisputeState,
)
from payments.models.disputes import COURIER_REASONS, OPEN_STATES

NOT_STARTED = (JobStatus.SCHEDULED, JobStatus.PENDING, JobStatus.UNASSIGNED)
MAX_TEXT = 5000
K = DisputeActionKind


def require(actor: User | None, action: str) -> None:
    """Raise ``DisputePermissionDenied`` unless ``actor`` may take ``action``."""
    if action not in perms.dispute_permissions(actor):
        raise DisputePermissionDenied()


def dispute_lock(dispute: Dispute | Any) -> Dispute:
    """The dispute's row and its job's, locked for the rest of the transaction (the job
    first, as ``job_transition`` does; then the dispute, the payment, the transfers)."""
    pk = dispute.pk if isinstance(dispute, Dispute) else dispute
    job_id = Dispute.objects.filter(pk=pk).values_list("job_id", flat=True).first()
    if job_id is None:
        raise DisputeNotFound()
    job = Job.objects.select_for_update().get(pk=job_id)
    locked = Dispute.objects.select_for_update().get(pk=pk)
    locked.job = job
    return locked


def action_replay(*, key: str, dispute: Dispute, kind: str) -> DisputeAction | None:
    """The action already recorded under ``key`` (the same request again), or None."""
    existing = DisputeAction.objects.filter(idempotency_key=key).first()
    if existing is None:
        return None
    if existing.dispute_id != dispute.pk or existing.kind != kind:
        raise IdempotencyKeyReused(fields={"idempotency_key": ["Used for another action."]})
    return existing


def action_record(
    *,
    dispute: Dispute,
    actor: User | None,
    kind: str,
    from_state: str,
    key: str,
    **fields: Any,
) -> DisputeAction:
    """Write the audit row (in a savepoint, so a lost race on a unique key surfaces as a
    state error instead of breaking the caller's transaction)."""
    try:
        with transaction.atomic():
            return DisputeAction.objects.create(
                dispute=dispute,
                actor=actor,
                kind=kind,
                from_state=from_state,
                to_state=dispute.state,
                currency=dispute.currency,
                idempotency_key=key,
                **fields,
            )
    except IntegrityError as error:
        if DisputeAction.objects.filter(idempotency_key=key).exists():
            raise IdempotencyKeyReused() from error
        raise DisputeStateError(f"This dispute already has a {kind} action.") from error


def dispute_move(dispute: Dispute, to: str, **fields: Any) -> None:
    """Set the state (and other fields) of a locked dispute and save just those."""
    dispute.state = to
    for name, value in fields.items():
        setattr(dispute, name, value)
    dispute.save(update_fields=["state", "updated_at", *fields])


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key.strip() or len(key) > 255:
        raise DisputeInvalidInput(
            "idempotency_key: give a non-empty key of at most 255 characters.",
            fields={"idempotency_key": ["A non-empty key of at most 255 characters."]},
        )


def _check_text(name: str, text: Any, *, required: bool) -> str:
    if not isinstance(text, str) or len(text) > MAX_TEXT or (required and not text.strip()):
        message = f"Text of at most {MAX_TEXT} characters" + (", not blank." if required else ".")
        raise DisputeInvalidInput(f"{name}: {message}", fields={name: [message]})
    return text


def _check_amount(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 2**62:
        raise DisputeInvalidInput(
            f"{name}: a whole number of minor units, 0 or more.",
            fields={name: ["A whole number of minor units, 0 or more."]},
        )
    return value


def _opener_may_open(*, job: Job, opener: str, actor: User | None) -> User | None:
    """The user recorded as opener; someone else's job is a 404."""
    if opener == DisputeOpener.SHOP:
        if actor is None or actor.shop_id is None or actor.shop_id != job.shop_id:
            raise DisputeNotFound("No such job.")
        return actor
    if opener == DisputeOpener.COURIER:
        courier = getattr(actor, "courier", None) if actor is not None else None
        if courier is None or job.courier_id != courier.pk:
            raise DisputeNotFound("No such job.")
        return actor
    if opener == DisputeOpener.RECIPIENT:
        return None  # the tracking link is the recipient's proof; no account
    raise DisputeInvalidInput(
        "opener: shop, recipient or courier (chargebacks come from Stripe).",
        fields={"opener": ["shop, recipient or courier."]},
    )


def photos_store(
    *, dispute: Dispute, party: str, actor: User | None, photos: Iterable[ProofImage], message=None
) -> list[DisputePhoto]:
    return [
        DisputePhoto.objects.create(
            dispute=dispute,
            message=message,
            party=party,
            content_type=image.content_type,
            data=image.data,
            size_bytes=image.size_bytes,
            sha256=image.sha256,
            uploaded_by=actor,
        )
        for image in photos
    ]


def dispute_open(
    *,
    job: Job | Any,
    opener: str,
    actor: User | None,
    reason: str,
    description: str,
    claim_value_minor: int,
    claim_fee_minor: int,
    claim_tip_minor: int,
    photos: Sequence[ProofImage] = (),
    recipient_problem: RecipientProblem | None = None,
) -> Dispute:
    """Open a dispute on ``job`` as ``opener`` (shop, recipient or courier).

    Locks the job row, so one opener's two racing requests open one dispute (the partial
    unique constraint holds it too). The job must have started (assigned or later) and
    ended at most ``DISPUTE_WINDOW_DAYS`` ago; each claim part is at most what was
    charged for it (the parcel value at most the declared value). When the job has a
    courier and the opener is the shop or the recipient, the courier is asked at once.
    A courier opens only on a job they carried, for one of ``COURIER_REASONS``, says what
    happened (``description`` not blank) and claims nothing of the shop's charge: what
    they are owed, staff decide (a compensation).
    """
    is_courier = opener == DisputeOpener.COURIER
    if reason not in (COURIER_REASONS if is_courier else DisputeReason.values):
        message = "Not a reason a courier may give." if is_courier else "Not a dispute reason."
        raise DisputeInvalidInput(f"reason: {message}", fields={"reason": [message]})
    description = _check_text("description", description, required=is_courier)
    claim = {
        "claim_value_minor": _check_amount("claim_value_minor", claim_value_minor),
        "claim_fee_minor": _check_amount("claim_fee_minor", claim_fee_minor),
        "claim_tip_minor": _check_amount("claim_tip_minor", claim_tip_minor),
    }
    if is_courier and any(claim.values()):
        raise DisputeInvalidInput(
            "claim: a courier claims no part of the shop's charge.",
            fields={name: ["0 for a courier."] for name, value in claim.items() if value},
        )
    with transaction.atomic():
        job_pk = job.pk if isinstance(job, Job) else job
        locked_job = Job.objects.select_for_update().filter(pk=job_pk).first()
        if locked_job is None:
            raise DisputeNotFound("No such job.")
        opened_by = _opener_may_open(job=locked_job, opener=opener, actor=actor)
        now = timezone.now()
        if locked_job.status in NOT_STARTED:
            raise DisputeNotAllowed("A dispute can be opened once a courier has the job.")
        window = timedelta(days=settings.DISPUTE_WINDOW_DAYS)
        if locked_job.ended_at is not None and now > locked_job.ended_at + window:
            raise DisputeNotAllowed(
                f"Disputes can be opened up to {settings.DISPUTE_WINDOW_DAYS} days after the "
                "job ended."
            )
        limits = claim_limits(job=locked_job)
        over = {
            name: [f"At most {limit}."]
            for name, limit in (
                ("claim_value_minor", limits.value_minor),
                ("claim_fee_minor", limits.fee_minor),
                ("claim_tip_minor", limits.tip_minor),
            )
            if claim[name] > limit
        }
        if over:
            raise DisputeAmountError(
                "The claim is more than what was charged: "
                + ", ".join(f"{name} {msgs[0].lower()}" for name, msgs in over.items()),
                fields=over,
            )
        if Dispute.objects.filter(job=locked_job, opener=opener, state__in=OPEN_STATES).exists():
            raise DisputeAlreadyOpen()
        asks_courier = locked_job.courier_id is not None and opener in {
            DisputeOpener.SHOP,
            DisputeOpener.RECIPIENT,
        }
        reply_due = now + timedelta(hours=settings.DISPUTE_COURIER_REPLY_HOURS)
        try:
            with transaction.atomic():
                dispute = Dispute.objects.create(
                    job=locked_job,
                    opener=opener,
                    opened_by=opened_by,
                    reason=reason,
                    description=description,
                    state=DisputeState.AWAITING_COURIER if asks_courier else DisputeState.OPEN,
                    currency=locked_job.currency,
                    courier_reply_due_at=reply_due if asks_courier else None,
                    review_due_at=now + timedelta(hours=settings.DISPUTE_REVIEW_SLA_HOURS),
                    recipient_problem=recipient_problem,
                    **claim,
                )
        except IntegrityError as error:
            raise DisputeAlreadyOpen() from error
        photos_store(dispute=dispute, party=opener, actor=opened_by, photos=photos)
        action_record(
            dispute=dispute,
            actor=opened_by,
            kind=K.OPEN,
            from_state=DisputeState.OPEN,
            key=f"dispute:{dispute.pk}:open",
            party=opener,
            amount_minor=dispute.claim_total_minor,
            note=description,
        )
        dispute_notify(
            dispute=dispute,
            event="dispute.opened",
            actor=opened_by,
            as_job_event=recipient_problem is None,
        )
    return dispute


def dispute_courier_reply(
    *, dispute: Dispute | Any, actor: User, statement: str, photos: Sequence[ProofImage] = ()
) -> DisputeMessage:
    """The courier's side, while the dispute waits for it (until ``courier_reply_due_at``);
    the dispute goes to review. Someone else's dispute is a 404."""
    statement = _check_text("statement", statement, required=True)
    with transaction.atomic():
        locked = dispute_lock(dispute)
        courier = getattr(actor, "courier", None)
        if courier is None or locked.job.courier_id != courier.pk:
            raise DisputeNotFound()
        now = timezone.now()
        if locked.state != DisputeState.AWAITING_COURIER:
            raise DisputeStateError("The dispute is not waiting for your reply.")
        if locked.courier_reply_due_at is not None and now > locked.courier_reply_due_at:
            raise DisputeStateError("The time to reply has passed.")
        message = DisputeMessage.objects.create(
            dispute=locked, party=DisputeParty.COURIER, author=actor, text=statement
        )
        photos_store(
            dispute=locked, party=DisputeParty.COURIER, actor=actor, photos=photos, message=message
        )
        from_state = locked.state
        dispute_move(locked, DisputeState.UNDER_REVIEW)
        action_record(
            dispute=locked,
            actor=actor,
            kind=K.COURIER_REPLY,
            from_state=from_state,
            key=f"dispute:{locked.pk}:courier_reply:{message.pk}",
            party=DisputeParty.COURIER,
            note=statement,
        )
        dispute_notify(dispute=locked, event="dispute.courier_replied", actor=actor)
    return message


def dispute_reject(
    *, dispute: Dispute | Any, actor: User, reason: str, idempotency_key: str
) -> DisputeAction:
    """Reject the claim with a reason (support, finance). A chargeback follows Stripe's
    outcome instead and cannot be rejected here."""
    require(actor, perms.REJECT)
    _check_key(idempotency_key)
    reason = _check_text("reason", reason, required=True)
    with transaction.atomic():
        locked = dispute_lock(dispute)
        replay = action_replay(key=idempotency_key, dispute=locked, kind=K.REJECT)
        if replay is not None:
            return replay
        if not locked.is_open or locked.is_chargeback:
            raise DisputeStateError(f"A {locked.state} dispute cannot be rejected.")
        from_state = locked.state
        dispute_move(
            locked,
            DisputeState.REJECTED,
            resolution=DisputeResolution.REJECTED,
            resolved_at=timezone.now(),
        )
        action = action_record(
            dispute=locked,
            actor=actor,
            kind=K.REJECT,
            from_state=from_state,
            key=idempotency_key,
            party=DisputeParty.STAFF,
            note=reason,
        )
        dispute_notify(dispute=locked, event="dispute.rejected", actor=actor)
    return action


def dispute_request_info(
    *, dispute: Dispute | Any, actor: User, party: str, message: str, idempotency_key: str
) -> DisputeAction:
    """Ask the shop, the recipient or the courier for more (support, finance).

    Asking the courier gives them ``DISPUTE_COURIER_REPLY_HOURS`` again
    (``awaiting_courier``); asking the shop or recipient puts the dispute under review.
    A chargeback keeps its state (Stripe drives it).
    """
    require(actor, perms.REQUEST_INFO)
    _check_key(idempotency_key)
    message = _check_text("message", message, required=True)
    if party not in {DisputeParty.SHOP, DisputeParty.RECIPIENT, DisputeParty.COURIER}:
        raise DisputeInvalidInput(
            "party: shop, recipient or courier.", fields={"party": ["shop, recipient or courier."]}
        )
    with transaction.atomic():
        locked = dispute_lock(dispute)
        replay = action_replay(key=idempotency_key, dispute=locked, kind=K.REQUEST_INFO)
        if replay is not None:
            return replay
        if not locked.is_open:
            raise DisputeStateError(f"A {locked.state} dispute takes no more information.")
        if party == DisputeParty.COURIER and locked.job.courier_id is None:
            raise DisputeStateError("The job has no courier to ask.")
        DisputeMessage.objects.create(
            dispute=locked,
            party=DisputeParty.STAFF,
            author=actor,
            addressed_to=party,
            text=message,
        )
        from_state = locked.state
        if locked.is_chargeback:
            dispute_move(locked, locked.state)
        elif party == DisputeParty.COURIER:
            due = timezone.now() + timedelta(hours=settings.DISPUTE_COURIER_REPLY_HOURS)
            dispute_move(locked, DisputeState.AWAITING_COURIER, courier_reply_due_at=due)
        else:
            dispute_move(locked, DisputeState.UNDER_REVIEW)
        action = action_record(
            dispute=locked,
            actor=actor,
            kind=K.REQUEST_INFO,
            from_state=from_state,
            key=idempotency_key,
            party=party,
            note=message,
        )
        dispute_notify(dispute=locked, event="dispute.info_requested", actor=actor)
    return action


PROBLEM_REASONS = {
    "damaged": DisputeReason.DAMAGED,
    "missing_items": DisputeReason.MISSING_ITEMS,
    "not_received": DisputeReason.NEVER_DELIVERED,
    "late": DisputeReason.LATE,
    "courier_conduct": DisputeReason.COURIER_CONDUCT,
}


def dispute_from_problem(*, problem: RecipientProblem) -> Dispute | None:
    """The ``problem_reported`` job hook: the recipient's report becomes their dispute
    (claim 0: the recipient paid nothing), or a message on the one already open. Runs in
    the reporting transaction, which holds the job's row lock. None when the job cannot be
    disputed (not started, or past the window)."""
    job = problem.job
    open_one = Dispute.objects.filter(
        job_id=job.pk, opener=DisputeOpener.RECIPIENT, state__in=OPEN_STATES
    ).first()
    if open_one is not None:
        DisputeMessage.objects.create(
            dispute=open_one,
            party=DisputeParty.RECIPIENT,
            text=f"{problem.get_reason_display()}: {problem.text}".strip(": "),
        )
        return open_one
    try:
        with transaction.atomic():
            return dispute_open(
                job=job,
                opener=DisputeOpener.RECIPIENT,
                actor=None,
                reason=PROBLEM_REASONS.get(problem.reason, DisputeReason.OTHER),
                description=problem.text,
                claim_value_minor=0,
                claim_fee_minor=0,
                claim_tip_minor=0,
                recipient_problem=problem,
            )
    except (DisputeNotAllowed, DisputeAlreadyOpen):
        return None
