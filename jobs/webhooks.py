"""Shop webhooks: an outbox row per job event, delivered and signed by a django-q2 task."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from jobs.models import Job, JobEvent, WebhookDelivery


def webhook_payload(*, event: JobEvent, job: Job, delivery_id: str) -> dict[str, Any]:
    """What the shop receives for one job event."""
    return {
        "id": delivery_id,
        "type": f"job.{event.to_status}",
        "created_at": event.created_at.isoformat(),
        "data": {
            "job_id": str(job.pk),
            "external_ref": job.external_ref,
            "seq": event.seq,
            "from_status": event.from_status or None,
            "status": event.to_status,
            "courier_id": event.courier_id,
            "reason": event.reason,
        },
    }


def webhook_enqueue(*, event: JobEvent, job: Job) -> WebhookDelivery | None:
    """Write the outbox row in the caller's transaction; send it after commit.

    Nothing is written when the shop has no webhook URL.
    """
    url = job.shop.webhook_url
    if not url:
        return None
    delivery = WebhookDelivery(shop_id=job.shop_id, event=event, url=url)
    delivery.body = json.dumps(
        webhook_payload(event=event, job=job, delivery_id=str(delivery.pk)),
        separators=(",", ":"),
        sort_keys=True,
    )
    delivery.next_attempt_at = timezone.now()
    delivery.save(force_insert=True)
    delivery_pk = str(delivery.pk)
    transaction.on_commit(
        lambda: async_task("jobs.webhooks.webhook_deliver_task", delivery_pk, group="webhooks")
    )
    return delivery
