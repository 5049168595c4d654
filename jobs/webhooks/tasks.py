"""django-q2 entry points for shop webhooks: send one delivery, and the minute's sweep."""

from __future__ import annotations

from jobs.webhooks.delivery import webhook_deliver, webhook_sweep


def webhook_deliver_task(delivery_pk: str) -> str:
    """Queued on commit for each outbox row, and by the sweeper for retries."""
    return webhook_deliver(delivery_pk=delivery_pk)


def webhook_sweep_task() -> dict[str, int]:
    """Every minute: give up rows past the retry window, queue the due retries."""
    return webhook_sweep()
