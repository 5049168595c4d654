"""Repairs for what a crash between two steps leaves behind."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from jobs.models import Job
from payments.authorisation import orphan_cancel
from payments.models import JobPayment, PaymentStatus

# A post authorises, then saves its job within a second; give it a wide margin.
ORPHAN_AFTER = timedelta(minutes=2)


def orphans_cancel(*, now: object = None) -> int:
    """Cancel holds whose job never got saved (the process died between the two steps)."""
    now = now or timezone.now()
    candidates = JobPayment.objects.filter(
        status__in=[PaymentStatus.AUTHORISING, PaymentStatus.AUTHORISED],
        created_at__lt=now - ORPHAN_AFTER,
    )
    job_ids = set(
        Job.objects.filter(pk__in=candidates.values("job_id")).values_list("pk", flat=True)
    )
    count = 0
    for payment in candidates:
        if payment.job_id not in job_ids:
            orphan_cancel(payment)
            count += 1
    return count
