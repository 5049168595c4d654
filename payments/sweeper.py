"""Card holds that must not outlive their use: orphans of a crash, and holds whose job can
no longer be delivered with them (rules in docs/payments.md, "When a hold is released")."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.utils import timezone

from jobs.models import Job, JobEvent, JobStatus
from payments.authorisation import orphan_cancel, orphan_claim
from payments.flows import hold_cancel_enqueue
from payments.models import JobPayment, PaymentStatus

logger = logging.getLogger(__name__)
P = PaymentStatus
S = JobStatus
# A post authorises, then saves its job within a second; give it a wide margin. Also how
# long a claimed cancel that Stripe did not answer waits before it is claimed again.
ORPHAN_AFTER = timedelta(minutes=2)


def orphans_cancel(*, now: datetime | None = None) -> int:
    """Cancel holds whose job never got saved (the process died between the two steps).

    Each is claimed first (``orphan_claim``): a post still saving its job, the post's own
    compensating cancel, or another sweeper wins or loses that one conditional update,
    and only the winner calls Stripe. Returns how many this call cancelled (or tried to).
    """
    now = now or timezone.now()
    candidates = JobPayment.objects.filter(
        ~Exists(Job.objects.filter(pk=OuterRef("job_id"))),
        status__in=[P.AUTHORISING, P.AUTHORISED, P.CANCELLING],
        updated_at__lt=now - ORPHAN_AFTER,
    )
    count = 0
    for payment in candidates:
        claimed = orphan_claim(payment)
        if claimed is not None:
            orphan_cancel(claimed)
            count += 1
    return count


def _unassigned_since() -> Subquery:
    last_move = JobEvent.objects.filter(job_id=OuterRef("pk"), to_status=S.UNASSIGNED)
    return Subquery(last_move.order_by("-seq").values("created_at")[:1])


def holds_release(*, now: datetime | None = None) -> int:
    """Release the holds no delivery can use any more; returns how many.

    - a job ``unassigned`` for longer than ``PAYMENT_UNASSIGNED_HOLD_MINUTES``: its hold is
      cancelled and the payment waits for a new authorisation (a re-post makes it);
    - a ``scheduled`` job whose hold lapses (``capture_before``) less than
      ``PAYMENT_HOLD_MARGIN_HOURS`` after its release: likewise (the release authorises);
    - a ``cancelled`` job still holding (a cancel that raced an authorisation): cancelled.
    """
    now = now or timezone.now()
    held = Exists(JobPayment.objects.filter(job_id=OuterRef("pk"), status=P.AUTHORISED))
    margin = timedelta(hours=settings.PAYMENT_HOLD_MARGIN_HOURS)
    lapsing = Exists(
        JobPayment.objects.filter(
            job_id=OuterRef("pk"),
            status=P.AUTHORISED,
            capture_before__lt=OuterRef("release_at") + margin,
        )
    )
    cutoff = now - timedelta(minutes=settings.PAYMENT_UNASSIGNED_HOLD_MINUTES)
    unassigned = (
        Job.objects.filter(held, status=S.UNASSIGNED)
        .annotate(since=_unassigned_since())
        .filter(since__lt=cutoff)
        .values_list("pk", flat=True)
    )
    scheduled = Job.objects.filter(lapsing, status=S.SCHEDULED).values_list("pk", flat=True)
    cancelled = Job.objects.filter(held, status=S.CANCELLED).values_list("pk", flat=True)
    released = 0
    for job_pk in [*unassigned, *scheduled, *cancelled]:
        released += hold_release(job_pk=job_pk, now=now)
    stuck = JobPayment.objects.filter(
        Q(status=P.AUTHORISING) | Q(status=P.CANCELLING, intent_id=""),
        Exists(Job.objects.filter(pk=OuterRef("job_id"), status=S.CANCELLED)),
        updated_at__lt=now - ORPHAN_AFTER,
    )
    for payment in stuck:
        released += _stuck_authorisation_cancel(payment)
    return released


def _still_releasable(job: Job, payment: JobPayment, now: datetime) -> bool:
    if job.status == S.CANCELLED:
        return True
    if job.status == S.SCHEDULED:
        margin = timedelta(hours=settings.PAYMENT_HOLD_MARGIN_HOURS)
        return (
            job.release_at is not None
            and payment.capture_before is not None
            and payment.capture_before < job.release_at + margin
        )
    if job.status == S.UNASSIGNED:
        since = (
            JobEvent.objects.filter(job_id=job.pk, to_status=S.UNASSIGNED)
            .order_by("-seq")
            .values_list("created_at", flat=True)
            .first()
        )
        cutoff = now - timedelta(minutes=settings.PAYMENT_UNASSIGNED_HOLD_MINUTES)
        return since is not None and since < cutoff
    return False


def hold_release(*, job_pk: object, now: datetime | None = None) -> bool:
    """Release one job's hold if a rule above still applies; True if it did.

    Locks the job row, then the payment (the order every job move takes), and checks the
    rule again under the lock, so a re-post, a release or a cancel either happens before
    (and the rule no longer applies) or after (and finds the payment awaiting a new
    authorisation). The cancel itself is a money command written in this transaction.
    """
    now = now or timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update(of=("self",)).filter(pk=job_pk).first()
        payment = (
            JobPayment.objects.select_for_update()
            .filter(job_id=job_pk, status=P.AUTHORISED)
            .first()
        )
        if job is None or payment is None or not _still_releasable(job, payment, now):
            return False
        if job.status == S.CANCELLED:
            payment.status = P.CANCELLING
            payment.save(update_fields=["status", "updated_at"])
            hold_cancel_enqueue(payment)
            return True
        hold_cancel_enqueue(payment)  # names this round's intent and key
        JobPayment.objects.filter(pk=payment.pk).update(
            status=P.AWAITING_AUTHORISATION,
            authorisation_round=F("authorisation_round") + 1,
            intent_id="",
            charge_id="",
            authorised_minor=0,
            capture_before=None,
            updated_at=now,
        )
    logger.info("released the card hold of job %s (%s)", job_pk, job.status)
    return True


def _stuck_authorisation_cancel(payment: JobPayment) -> bool:
    """A cancelled job whose last authorise call never answered: learn what Stripe did
    (the same call, same key) and cancel it. Claimed like an orphan (the status and
    ``updated_at`` as read), under the job lock; retried the same way if Stripe is down."""
    with transaction.atomic():
        Job.objects.select_for_update(of=("self",)).filter(pk=payment.job_id).first()
        claimed = JobPayment.objects.filter(
            pk=payment.pk, status=payment.status, updated_at=payment.updated_at
        ).update(status=P.CANCELLING, updated_at=timezone.now())
    if not claimed:
        return False
    payment.refresh_from_db()
    orphan_cancel(payment)
    return True
