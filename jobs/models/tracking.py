"""What recipients leave on the tracking link: a rating and problem reports."""

from __future__ import annotations

from django.contrib.gis.db import models
from django.core.validators import MaxValueValidator, MinValueValidator

from couriers.models import Courier
from jobs.models.jobs import Job


class JobRating(models.Model):
    """The recipient's stars for a delivered job: one per job (the constraint holds it)."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="rating")
    courier = models.ForeignKey(
        Courier, on_delete=models.SET_NULL, null=True, blank=True, related_name="ratings"
    )
    stars = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    comment = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(stars__gte=1, stars__lte=5), name="jobrating_stars_1_to_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stars}★ for {self.job_id}"


class ProblemReason(models.TextChoices):
    DAMAGED = "damaged", "Damaged"
    MISSING_ITEMS = "missing_items", "Items missing"
    WRONG_ITEM = "wrong_item", "Wrong item"
    NOT_RECEIVED = "not_received", "Not received"
    LATE = "late", "Late"
    COURIER_CONDUCT = "courier_conduct", "Courier conduct"
    OTHER = "other", "Other"


class RecipientProblem(models.Model):
    """A problem the recipient reported after pickup, for staff and the shop."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="problems")
    reason = models.CharField(max_length=32, choices=ProblemReason.choices)
    text = models.CharField(max_length=1000, blank=True, default="")
    job_status = models.CharField(max_length=16, help_text="The job's status when reported.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.reason} on {self.job_id}"
