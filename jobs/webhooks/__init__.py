"""Shop webhooks: an outbox row per job event, delivered and signed by a django-q2 task.

A package: ``config`` (URL policy, secrets, the shop's settings), ``delivery`` (outbox,
signing, sending, retries, sweeper), ``selectors`` and ``tasks``. Task paths stay
``jobs.webhooks.webhook_deliver_task`` and ``jobs.webhooks.webhook_sweep_task``.
"""

from jobs.webhooks.config import (
    SECRET_PREFIX,
    shop_webhook_disable,
    shop_webhook_set,
    webhook_secret_hint,
    webhook_url_problem,
)
from jobs.webhooks.delivery import (
    SIGNATURE_HEADER,
    event_envelope,
    webhook_backoff,
    webhook_deliver,
    webhook_enqueue,
    webhook_event_type,
    webhook_payload,
    webhook_signature,
    webhook_sweep,
)
from jobs.webhooks.selectors import webhook_deliveries_for_shop
from jobs.webhooks.tasks import webhook_deliver_task, webhook_sweep_task

__all__ = [
    "SECRET_PREFIX",
    "SIGNATURE_HEADER",
    "event_envelope",
    "shop_webhook_disable",
    "shop_webhook_set",
    "webhook_backoff",
    "webhook_deliver",
    "webhook_deliver_task",
    "webhook_deliveries_for_shop",
    "webhook_enqueue",
    "webhook_event_type",
    "webhook_payload",
    "webhook_secret_hint",
    "webhook_signature",
    "webhook_sweep",
    "webhook_sweep_task",
    "webhook_url_problem",
]
