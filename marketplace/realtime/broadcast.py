"""Send JSON messages to socket groups, after the current transaction commits."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# Consumers forward group messages of this type to their client unchanged.
FORWARD = "realtime.forward"


def group_message(payload: dict[str, Any]) -> dict[str, Any]:
    """The channel-layer envelope around a client-facing ``payload``."""
    return {"type": FORWARD, "payload": payload}


def send_now(messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Send each ``(group, payload)`` now, all in one trip into the event loop.

    Delivery is best effort: sockets are not a log. A Redis hiccup is logged, never raised,
    so it cannot fail the request or task that caused the broadcast; anything that must
    arrive is also in the database. One trip matters: each sync-to-async hop costs a few
    milliseconds, which a wave of offers would otherwise pay once per courier.
    """
    _send_events([(group, group_message(payload)) for group, payload in messages])


def _send_events(events: Sequence[tuple[str, dict[str, Any]]]) -> None:
    if not events:
        return
    layer = get_channel_layer()

    async def send_all() -> None:
        for group, event in events:
            try:
                await layer.group_send(group, event)
            except (OSError, RedisError) as exc:  # redis-py's errors are not OSErrors
                logger.warning("broadcast to %s failed: %s", group, exc)

    async_to_sync(send_all)()


def send_event_on_commit(group: str, event: dict[str, Any]) -> None:
    """Send a channel-layer ``event`` to ``group`` once the transaction commits.

    For consumers, not clients: ``event["type"]`` names the consumer method that handles
    it (``"courier.job"`` calls ``courier_job``), and nothing is forwarded as it is.
    Best effort, as ``send_now``.
    """
    transaction.on_commit(lambda: _send_events([(group, event)]))


def send_on_commit(messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """``send_now(messages)`` once the surrounding transaction commits."""
    messages = list(messages)
    if messages:
        transaction.on_commit(lambda: send_now(messages))


def broadcast_now(groups: Iterable[str], payload: dict[str, Any]) -> None:
    """Send one ``payload`` to every group now (best effort, as ``send_now``)."""
    send_now([(group, payload) for group in groups])


def broadcast_on_commit(groups: Iterable[str], payload: dict[str, Any]) -> None:
    """Send ``payload`` to ``groups`` once the surrounding transaction commits."""
    send_on_commit([(group, payload) for group in groups])
