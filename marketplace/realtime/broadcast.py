"""Send JSON messages to socket groups, after the current transaction commits."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import _consistent_hash, decode_hosts
from django.db import transaction
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# Consumers forward group messages of this type to their client unchanged.
FORWARD = "realtime.forward"
# A send or a subscriber count never waits longer than this on a stuck Redis.
SEND_TIMEOUT_SECONDS = 5.0


def group_message(payload: dict[str, Any]) -> dict[str, Any]:
    """The channel-layer envelope around a client-facing ``payload``."""
    return {"type": FORWARD, "payload": payload}


class _PubSubPublisher:
    """Publishes to a ``RedisPubSubChannelLayer``'s groups from synchronous code.

    The layer's own ``group_send`` is a coroutine: from a request thread or a worker it
    costs a sync-to-async hop, and outside an event loop a new loop and a new Redis
    connection per call (~5 ms). A group send on that layer is one ``PUBLISH`` of the
    layer's own serialisation to ``<prefix>__group__<group>`` on the group's shard, so
    this does exactly that with a blocking client (a pooled connection, fork-safe):
    every batch is one pipelined round trip per shard.
    """

    def __init__(self, layer: RedisPubSubChannelLayer) -> None:
        self.layer = layer
        config = layer._kwargs  # what CHANNEL_LAYERS gave the layer: hosts, prefix
        self.prefix = config.get("prefix", "asgi")
        self.shards = [_blocking_client(host) for host in decode_hosts(config.get("hosts"))]

    def channel(self, group: str) -> str:
        return f"{self.prefix}__group__{group}"

    def publish(self, events: Sequence[tuple[str, dict[str, Any]]]) -> None:
        by_shard: dict[int, list[tuple[str, str, bytes]]] = defaultdict(list)
        for group, event in events:
            channel = self.channel(group)
            shard = _consistent_hash(channel, len(self.shards))
            by_shard[shard].append((group, channel, self.layer.serialize(event)))
        for shard, items in by_shard.items():
            pipe = self.shards[shard].pipeline(transaction=False)
            for _, channel, data in items:
                pipe.publish(channel, data)
            try:
                pipe.execute()
            except (OSError, RedisError) as exc:  # redis-py's errors are not OSErrors
                for group, _, _ in items:
                    logger.warning("broadcast to %s failed: %s", group, exc)

    def has_subscribers(self, group: str) -> bool:
        channel = self.channel(group)
        client = self.shards[_consistent_hash(channel, len(self.shards))]
        try:
            return any(count for _, count in client.pubsub_numsub(channel))
        except (OSError, RedisError) as exc:
            logger.warning("subscriber count of %s failed: %s", group, exc)
            return True  # unknown: let the send try (and log) as it would have


class Batch:
    """Socket sends, subscriber counts and other commands on the layer's Redis, sent at once.

    Made by ``batch()``; ``execute()`` sends everything queued in one pipelined round
    trip, in the order queued. Sends stay best effort: a failed one is logged.
    """

    def __init__(self, publisher: _PubSubPublisher) -> None:
        self.publisher = publisher
        self.client: redis.Redis = publisher.shards[0]
        self.pipeline = self.client.pipeline(transaction=False)
        self._sent: list[tuple[int, str]] = []
        self._size = 0

    def _queued(self) -> int:
        self._size += 1
        return self._size - 1

    def send(self, messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Queue ``send_now(messages)``."""
        layer = self.publisher.layer
        for group, payload in messages:
            self.pipeline.publish(
                self.publisher.channel(group), layer.serialize(group_message(payload))
            )
            self._sent.append((self._queued(), group))

    def send_events(self, events: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Queue channel-layer ``events`` for consumers (``send_event_on_commit``'s kind)."""
        for group, event in events:
            self.pipeline.publish(
                self.publisher.channel(group), self.publisher.layer.serialize(event)
            )
            self._sent.append((self._queued(), group))

    def count(self, group: str) -> int:
        """Queue a subscriber count of ``group``; its index among ``execute()``'s results."""
        self.pipeline.pubsub_numsub(self.publisher.channel(group))
        return self._queued()

    def queued(self) -> int:
        """Say one command was queued on ``pipeline`` directly; its index among the results."""
        return self._queued()

    def execute(self) -> list[Any]:
        """Send it all; each command's result (an exception for one that failed).

        Raises what redis-py raises when Redis cannot be reached at all.
        """
        results = self.pipeline.execute(raise_on_error=False)
        for index, group in self._sent:
            if isinstance(results[index], Exception):
                logger.warning("broadcast to %s failed: %s", group, results[index])
        return results


def batch() -> Batch | None:
    """A ``Batch`` on the pub/sub channel layer's Redis; None with any other layer or with
    more than one shard (then send and count separately)."""
    publisher = _publisher()
    if publisher is None or len(publisher.shards) != 1:
        return None
    return Batch(publisher)


def subscribers_in(result: Any) -> bool:
    """A ``Batch.count`` result: whether any socket listens (True when it cannot tell)."""
    if isinstance(result, Exception):
        logger.warning("subscriber count failed: %s", result)
        return True
    return any(count for _, count in result)


def _blocking_client(host: dict[str, Any]) -> redis.Redis:
    options = {"socket_timeout": SEND_TIMEOUT_SECONDS, **host}
    address = options.pop("address", None)
    if address is not None:
        return redis.Redis.from_url(address, **options)
    return redis.Redis(**options)


def _publisher() -> _PubSubPublisher | None:
    """The blocking publisher for the current channel layer, if it is the pub/sub one."""
    layer = get_channel_layer()
    if not isinstance(layer, RedisPubSubChannelLayer):
        return None
    # vars(): the layer proxies unknown attributes to its per-loop layer.
    publisher = vars(layer).get("_blocking_publisher")
    if publisher is None:
        publisher = layer._blocking_publisher = _PubSubPublisher(layer)
    return publisher


def send_now(messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Send each ``(group, payload)`` now, all in one round trip.

    Delivery is best effort: sockets are not a log. A Redis hiccup is logged, never raised,
    so it cannot fail the request or task that caused the broadcast; anything that must
    arrive is also in the database. Call it from synchronous code (it blocks on Redis).
    """
    _send_events([(group, group_message(payload)) for group, payload in messages])


def has_subscribers(group: str) -> bool:
    """Whether any socket listens to ``group`` now (True when it cannot tell).

    Lets a sender skip building a frame nobody would get (database reads for a job
    nobody tracks). A socket that joins between the answer and the send misses that
    frame, as it misses any frame sent before it joined: what it shows comes from the
    state it reads when it connects, and from the frames after.
    """
    publisher = _publisher()
    return True if publisher is None else publisher.has_subscribers(group)


def _send_events(events: Sequence[tuple[str, dict[str, Any]]]) -> None:
    if not events:
        return
    publisher = _publisher()
    if publisher is not None:
        publisher.publish(events)
        return
    layer = get_channel_layer()

    async def send_all() -> None:
        for group, event in events:
            try:
                await layer.group_send(group, event)
            except (OSError, RedisError) as exc:
                logger.warning("broadcast to %s failed: %s", group, exc)

    async_to_sync(send_all)()


def send_events_now(events: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Send each ``(group, event)`` channel-layer event now (best effort, as ``send_now``)."""
    _send_events(list(events))


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
