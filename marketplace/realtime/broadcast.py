"""Send JSON messages to socket groups, after the current transaction commits."""

from __future__ import annotations

import logging
from collections.abc import Iterable
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


def broadcast_now(groups: Iterable[str], payload: dict[str, Any]) -> None:
    """Send ``payload`` to every group now. Delivery is best effort: sockets are not a log.

    A Redis hiccup is logged, never raised, so it cannot fail the request or task that
    caused the broadcast; anything that must arrive is also in the database.
    """
    layer = get_channel_layer()
    message = group_message(payload)
    for group in groups:
        try:
            async_to_sync(layer.group_send)(group, message)
        except (OSError, RedisError) as exc:  # redis-py's errors are not OSErrors
            logger.warning("broadcast to %s failed: %s", group, exc)


def broadcast_on_commit(groups: Iterable[str], payload: dict[str, Any]) -> None:
    """Send ``payload`` to ``groups`` once the surrounding transaction commits."""
    groups = list(groups)
    transaction.on_commit(lambda: broadcast_now(groups, payload))
