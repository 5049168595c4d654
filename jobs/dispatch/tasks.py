"""django-q2 entry points for dispatch: one pass per job, and the offer sweeper."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from uuid import UUID

from django.db import DatabaseError
from django.db.models import Exists, OuterRef
from django.utils import timezone

from jobs.dispatch.rounds import dispatch_job
from jobs.models import Job, JobStatus, Offer, OfferStatus

logger = logging.getLogger(__name__)

# A pending job with no open offer for this long has lost its dispatch task (a worker
# died holding it): the sweeper runs its pass.
STUCK_AFTER = timedelta(seconds=10)
SWEEP_BATCH = 500


def dispatch_job_task(job_pk: str) -> str:
    """Queued whenever a job becomes pending, after a decline, and by the expiry follow-up."""
    return dispatch_job(job_pk=job_pk).outcome


def offers_sweep(*, now: datetime | None = None, batch: int = SWEEP_BATCH) -> list[UUID]:
    """Run a dispatch pass for every job that needs one and has not had it.

    That is a job with an offer past its deadline still marked pending (the follow-up
    has not run yet, or a worker died), and a pending job with no open offer that has not
    moved for ``STUCK_AFTER`` (its dispatch task was lost). Returns the jobs passed.
    """
    now = now or timezone.now()
    overdue = (
        Offer.objects.filter(status=OfferStatus.PENDING, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("job_id", flat=True)[:batch]
    )
    open_offer = Offer.objects.filter(job=OuterRef("pk"), status=OfferStatus.PENDING)
    stuck = (
        Job.objects.filter(status=JobStatus.PENDING, updated_at__lte=now - STUCK_AFTER)
        .exclude(Exists(open_offer))
        .order_by("updated_at")
        .values_list("pk", flat=True)[:batch]
    )
    job_pks = list(dict.fromkeys([*overdue, *stuck]))
    for job_pk in job_pks:
        try:
            dispatch_job(job_pk=job_pk)
        except DatabaseError:
            logger.exception("dispatch pass for job %s failed; the next sweep retries", job_pk)
    return job_pks


def offers_sweep_task() -> int:
    """django-q2 periodic task (every minute): expire overdue offers, re-drive dispatch."""
    passed = offers_sweep()
    if passed:
        logger.info("offer sweeper ran dispatch for %d job(s)", len(passed))
    return len(passed)
