"""Stripe events as received (stored once by id) and the reconciliation reports."""

from __future__ import annotations

from django.db import models


class StripeEvent(models.Model):
    """A verified Stripe event. ``connect`` marks events from the Connect endpoint."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    connect = models.BooleanField(default=False)
    account_id = models.CharField(max_length=255, blank=True, default="")
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    processing_error = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class ReconciliationReport(models.Model):
    """The outcome of one reconciliation run: every difference found, with its job."""

    since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    difference_count = models.PositiveIntegerField()
    differences = models.JSONField(default=list)
    checked = models.JSONField(
        default=dict, help_text="How many objects of each kind were compared."
    )

    def __str__(self) -> str:
        return f"reconciliation {self.created_at:%Y-%m-%d %H:%M} ({self.difference_count})"
