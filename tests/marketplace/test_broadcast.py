"""Socket broadcasts: sent only after commit, and a Redis outage never fails the caller."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers, get_channel_layer
from django.db import connection, transaction

from marketplace.realtime.broadcast import (
    broadcast_now,
    broadcast_on_commit,
    has_subscribers,
    send_now,
)


@pytest.fixture
def dead_redis_layer(settings) -> Iterator[None]:
    """The channel layer pointed at a port nothing listens on."""
    layers = {**settings.CHANNEL_LAYERS}
    layers["default"] = {
        **layers["default"],
        "CONFIG": {
            **layers["default"]["CONFIG"],
            "hosts": [{"address": "redis://127.0.0.1:9/0", "socket_connect_timeout": 0.5}],
        },
    }
    settings.CHANNEL_LAYERS = layers
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def test_a_redis_outage_is_logged_not_raised(
    dead_redis_layer: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="marketplace.realtime.broadcast"):
        broadcast_now(["job.a", "job.b"], {"type": "job_update"})

    failures = [r.getMessage() for r in caplog.records]
    assert len(failures) == 2
    assert failures[0].startswith("broadcast to job.a failed: ")
    assert failures[1].startswith("broadcast to job.b failed: ")


class Rollback(Exception):
    pass


def broadcast_in_transaction(group: str, payload: dict, *, commit: bool) -> bool:
    """Queue a broadcast inside a transaction; return whether it was still unsent at the end."""
    try:
        with transaction.atomic():
            broadcast_on_commit([group], payload)
            pending = len(transaction.get_connection().run_on_commit) == 1
            if not commit:
                raise Rollback
    except Rollback:
        pass
    finally:
        connection.close()  # this runs in sync_to_async's thread; give its connection back
    return pending


async def subscribe(group: str) -> str:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return channel


@pytest.mark.django_db(transaction=True)
async def test_a_rolled_back_broadcast_is_never_sent() -> None:
    channel = await subscribe("job.rolled-back")

    queued = await sync_to_async(broadcast_in_transaction)(
        "job.rolled-back", {"type": "job_update"}, commit=False
    )

    assert queued
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(get_channel_layer().receive(channel), timeout=1)


@pytest.mark.django_db(transaction=True)
async def test_a_committed_broadcast_is_sent_after_the_commit() -> None:
    channel = await subscribe("job.committed")

    queued = await sync_to_async(broadcast_in_transaction)(
        "job.committed", {"type": "job_update", "n": 2}, commit=True
    )

    assert queued  # held back until the block committed
    message = await asyncio.wait_for(get_channel_layer().receive(channel), timeout=5)
    assert message == {"type": "realtime.forward", "payload": {"type": "job_update", "n": 2}}


@pytest.mark.django_db(transaction=True)
async def test_one_send_reaches_every_group_in_order_as_the_layer_would_deliver_it() -> None:
    first, second = await subscribe("job.one"), await subscribe("shop.two")

    await sync_to_async(send_now)(
        [("job.one", {"type": "job_update", "n": 1}), ("shop.two", {"type": "event", "n": 2})]
    )

    layer = get_channel_layer()
    assert await asyncio.wait_for(layer.receive(first), timeout=5) == {
        "type": "realtime.forward",
        "payload": {"type": "job_update", "n": 1},
    }
    assert await asyncio.wait_for(layer.receive(second), timeout=5) == {
        "type": "realtime.forward",
        "payload": {"type": "event", "n": 2},
    }


@pytest.mark.django_db(transaction=True)
async def test_subscribers_are_counted_per_group() -> None:
    assert await sync_to_async(has_subscribers)("track.nobody-yet") is False

    await subscribe("track.nobody-yet")

    assert await sync_to_async(has_subscribers)("track.nobody-yet") is True
    assert await sync_to_async(has_subscribers)("track.someone-else") is False


def test_a_redis_outage_counts_as_maybe_subscribed(
    dead_redis_layer: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="marketplace.realtime.broadcast"):
        assert has_subscribers("track.x") is True

    assert [r.getMessage()[:33] for r in caplog.records] == ["subscriber count of track.x faile"]
