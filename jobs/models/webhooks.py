"""The shop-webhook outbox: one row per job event to send, and every attempt at it."""

from __future__ import annotations

import uuid

from django.contrib.gis.db import models

from jobs.models.jobs import JobEvent


class WebhookStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    GAVE_UP = "gave_up", "Gave up"


class WebhookDelivery(models.Model):
    """Outbox row: one job event to send to the shop's webhook URL, written with the event."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    shop = models.ForeignKey(
        "marketplace.Shop", on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    event = models.OneToOneField(JobEvent, on_delete=models.CASCADE, related_name="webhook")
    url = models.URLField(max_length=500)
    body = models.TextField(help_text="The exact JSON bytes that are signed and sent.")
    status = models.CharField(
        max_length=16, choices=WebhookStatus.choices, default=WebhookStatus.PENDING
    )
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status=WebhookStatus.PENDING),
                name="webhook_pending_due",
            ),
        ]

    def __str__(self) -> str:
        return f"webhook {self.pk} ({self.status})"


class WebhookAttempt(models.Model):
    """One try at sending a webhook, kept for the shop's and staff's debugging."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"attempt {self.pk} → {self.status_code or self.error}"
