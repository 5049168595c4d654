"""Offers: a job proposed to one courier for a short while."""

from __future__ import annotations

import uuid

from django.contrib.gis.db import models

from couriers.models import Courier
from jobs.models.jobs import Job


class OfferStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    EXPIRED = "expired", "Expired"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Offer(models.Model):
    """A job offered to one courier until ``expires_at``; at most one per job is accepted."""

    Status = OfferStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="offers")
    courier = models.ForeignKey(Courier, on_delete=models.CASCADE, related_name="offers")
    status = models.CharField(
        max_length=16, choices=OfferStatus.choices, default=OfferStatus.PENDING
    )
    dispatch_round = models.PositiveSmallIntegerField(default=0)
    dispatch_attempt = models.PositiveIntegerField(
        default=1, help_text="The job's dispatch attempt this offer belongs to."
    )
    distance_m = models.PositiveIntegerField(help_text="Courier to pickup when offered.")
    score = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.CharField(
        max_length=200, blank=True, default="", help_text="What the courier said, if anything."
    )

    class Meta:
        indexes = [
            models.Index(
                fields=["expires_at"],
                condition=models.Q(status=OfferStatus.PENDING),
                name="offer_pending_expiry",
            ),
            models.Index(
                fields=["courier", "status"],
                condition=models.Q(status=OfferStatus.PENDING),
                name="offer_pending_by_courier",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["job"],
                condition=models.Q(status=OfferStatus.ACCEPTED),
                name="offer_one_accepted_per_job",
            ),
            # A courier sees a job at most once per dispatch attempt.
            models.UniqueConstraint(
                fields=["job", "courier", "dispatch_attempt"],
                name="offer_once_per_courier_per_attempt",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=OfferStatus.values), name="offer_status_known"
            ),
        ]

    def __str__(self) -> str:
        return f"offer {self.pk} ({self.status})"
