"""Dispatch reads: the offers a courier can still answer."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from couriers.models import Courier
from jobs.models import JobStatus, Offer, OfferStatus


def offers_pending_for_courier(*, courier: Courier, now: datetime | None = None) -> QuerySet[Offer]:
    """The courier's offers they can still accept, soonest deadline first (with their jobs)."""
    now = now or timezone.now()
    return (
        Offer.objects.filter(
            courier=courier,
            status=OfferStatus.PENDING,
            expires_at__gt=now,
            job__status=JobStatus.PENDING,
        )
        .select_related("job")
        .order_by("expires_at", "pk")
    )
