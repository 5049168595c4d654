"""Opening a dispute: the shop's, the courier's, and the recipient's from a problem report."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.models import Job, JobStatus, RecipientProblem
from jobs.photos import ProofImage
from marketplace.models import User
from payments.disputes.events import dispute_notify
from payments.disputes.selectors import claim_limits
from payments.disputes.services.core.common import (
    K,
    _check_amount,
    _check_text,
    action_record,
    photos_store,
)
from payments.disputes.services.errors import (
    DisputeAlreadyOpen,
    DisputeAmountError,
    DisputeInvalidInput,
    DisputeNotAllowed,
    DisputeNotFound,
)
from payments.models import (
    Dispute,
    DisputeMessage,
    DisputeOpener,
    DisputeParty,
    DisputeReason,
    DisputeState,
)
from payments.models.disputes import COURIER_REASONS, OPEN_STATES

NOT_STARTED = (JobStatus.SCHEDULED, JobStatus.PENDING, JobStatus.UNASSIGNED)


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
