"""Reads for shops and staff: job lists with filters, one job, its events."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from uuid import UUID

from django.db.models import QuerySet
from django.http import Http404

from jobs.models import Job, JobEvent
from marketplace.models import Role, User


def jobs_visible_to(user: User) -> QuerySet[Job]:
    """Staff see every job; a shop's users see their shop's; anyone else nothing."""
    jobs = Job.objects.all()
    if user.role == Role.STAFF:
        return jobs
    if user.role == Role.SHOP:
        return jobs.filter(shop_id=user.shop_id)
    return jobs.none()


def job_list(
    *,
    user: User,
    statuses: Collection[str] = (),
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[Job]:
    """Jobs ``user`` may see, newest first, optionally by status and creation time range
    (``created_after`` inclusive, ``created_before`` exclusive)."""
    jobs = jobs_visible_to(user)
    if statuses:
        jobs = jobs.filter(status__in=list(statuses))
    if created_after is not None:
        jobs = jobs.filter(created_at__gte=created_after)
    if created_before is not None:
        jobs = jobs.filter(created_at__lt=created_before)
    return jobs.order_by("-created_at", "-pk")


def job_get(*, user: User, pk: UUID) -> Job:
    """One job ``user`` may see; ``Http404`` for anyone else's (no hint that it exists)."""
    job = jobs_visible_to(user).select_related("quote").filter(pk=pk).first()
    if job is None:
        raise Http404("No such job.")
    return job


def job_events(*, job: Job) -> QuerySet[JobEvent]:
    """The job's history in order."""
    return JobEvent.objects.filter(job=job).order_by("seq")
