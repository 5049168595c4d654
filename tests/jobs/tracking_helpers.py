"""Shared helpers for the tracking tests: jobs at a status with a courier, fixes, URLs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.gis.geos import Point
from django.utils import timezone

from couriers.models import CourierStatus, LocationPing
from jobs.models import COURIER_ACTIVE_STATUSES, Job, JobStatus
from jobs.tracking.tokens import job_tracking_token
from tests.factories import CourierFactory, JobFactory, UserFactory


def tracked_job(status: JobStatus = JobStatus.PENDING, **kwargs: Any) -> tuple[Job, str]:
    """A job at ``status`` (with a courier named Alex Berger when one is needed), its token."""
    if status in COURIER_ACTIVE_STATUSES or status == JobStatus.DELIVERED:
        user = UserFactory(first_name="Alex", last_name="Berger")
        kwargs.setdefault(
            "courier",
            CourierFactory(
                user=user,
                status=CourierStatus.BUSY
                if status in COURIER_ACTIVE_STATUSES
                else CourierStatus.AVAILABLE,
            ),
        )
    job = JobFactory(status=status, **kwargs)
    return job, job_tracking_token(job)


def fix(
    job: Job, *, lat: float, lng: float, age_s: float = 2, flag: str = "", heading: float = 90
) -> LocationPing:
    """A breadcrumb for the job's courier, ``age_s`` seconds old."""
    recorded_at: datetime = timezone.now() - timedelta(seconds=age_s)
    return LocationPing.objects.create(
        courier=job.courier,
        point=Point(lng, lat, srid=4326),
        recorded_at=recorded_at,
        received_at=recorded_at,
        heading=heading,
        flag=flag,
    )


def track_url(token: str, action: str = "") -> str:
    return f"/api/v1/track/{token}/" + (f"{action}/" if action else "")
