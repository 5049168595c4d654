"""Webhook reads: a shop's recent deliveries for its debugging view."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from jobs.models import WebhookAttempt, WebhookDelivery, WebhookStatus
from marketplace.models import Shop


def webhook_deliveries_for_shop(
    *, shop: Shop, status: WebhookStatus | None = None
) -> QuerySet[WebhookDelivery]:
    """The shop's deliveries, newest first, with their event and attempts (oldest first)."""
    deliveries = WebhookDelivery.objects.filter(shop=shop)
    if status:
        deliveries = deliveries.filter(status=status)
    return (
        deliveries.select_related("event")
        .prefetch_related(
            Prefetch("attempts", queryset=WebhookAttempt.objects.order_by("attempted_at", "pk"))
        )
        .order_by("-created_at", "-pk")
    )
