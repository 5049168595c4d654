"""Send JSON messages to socket groups from async code, without the layer's shard lock.

``RedisPubSubChannelLayer.group_send`` serialises every publish of a process through one
lock per shard and waits for each reply before the next may start, so under load every
socket's sends queue behind everybody else's. A group send on that layer is one
``PUBLISH`` of the layer's own serialisation to ``<prefix>__group__<group>`` on the
group's shard; ``publish_now`` does exactly that on a pooled asyncio client per event
loop and shard (``marketplace.redis_async``, closed with its loop), with all the messages
of one call in one pipelined round trip per shard.
Other layers (in-memory in some tests) get their ordinary ``group_send``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import _consistent_hash, decode_hosts
from redis.exceptions import RedisError

from marketplace.realtime.broadcast import SEND_TIMEOUT_SECONDS, group_message
from marketplace.redis_async import loop_client

logger = logging.getLogger(__name__)


class _AsyncPublisher:
    def __init__(self, layer: RedisPubSubChannelLayer) -> None:
        config = layer._kwargs  # what CHANNEL_LAYERS gave the layer: hosts, prefix
        self.layer = layer
        self.prefix = config.get("prefix", "asgi")
        self.hosts = decode_hosts(config.get("hosts"))

    def _shards(self) -> list[aioredis.Redis]:
        return [
            loop_client(f"publish:{self.prefix}:{index}", lambda host=host: _client(host))
            for index, host in enumerate(self.hosts)
        ]

    async def publish(self, events: Sequence[tuple[str, dict[str, Any]]]) -> None:
        shards = self._shards()
        by_shard: dict[int, list[tuple[str, str, bytes]]] = defaultdict(list)
        for group, event in events:
            channel = f"{self.prefix}__group__{group}"
            shard = _consistent_hash(channel, len(shards))
            by_shard[shard].append((group, channel, self.layer.serialize(event)))
        for shard, items in by_shard.items():
            pipe = shards[shard].pipeline(transaction=False)
            for _, channel, data in items:
                pipe.publish(channel, data)
            try:
                await pipe.execute()
            except (OSError, RedisError) as exc:
                for group, _, _ in items:
                    logger.warning("broadcast to %s failed: %s", group, exc)


def _client(host: dict[str, Any]) -> aioredis.Redis:
    options = {"socket_timeout": SEND_TIMEOUT_SECONDS, **host}
    address = options.pop("address", None)
    if address is not None:
        return aioredis.Redis.from_url(address, **options)
    return aioredis.Redis(**options)


def _publisher() -> _AsyncPublisher | None:
    layer = get_channel_layer()
    if not isinstance(layer, RedisPubSubChannelLayer):
        return None
    # vars(): the layer proxies unknown attributes to its per-loop layer.
    publisher = vars(layer).get("_async_publisher")
    if publisher is None:
        publisher = layer._async_publisher = _AsyncPublisher(layer)
    return publisher


async def publish_now(messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Send each ``(group, payload)`` now, in order, in one round trip per shard.

    Best effort, as ``broadcast.send_now``: a Redis hiccup is logged, never raised.
    """
    events = [(group, group_message(payload)) for group, payload in messages]
    if not events:
        return
    publisher = _publisher()
    if publisher is not None:
        await publisher.publish(events)
        return
    layer = get_channel_layer()
    for group, event in events:
        try:
            await layer.group_send(group, event)
        except (OSError, RedisError) as exc:
            logger.warning("broadcast to %s failed: %s", group, exc)
