"""The per-loop asyncio Redis client: one per loop, closed when its loop shuts down."""

from __future__ import annotations

import asyncio
import time

import redis
from asgiref.sync import async_to_sync
from django.conf import settings

from marketplace import redis_async
from marketplace.realtime.publish_async import publish_now
from marketplace.redis_async import async_redis


def _client_names() -> list[str]:
    server = redis.Redis.from_url(settings.REDIS_URL)
    try:
        return [client.get("name", "") for client in server.client_list()]
    finally:
        server.close()


def _wait_until_gone(name: str) -> list[str]:
    deadline = time.monotonic() + 5
    names = _client_names()
    while name in names and time.monotonic() < deadline:
        time.sleep(0.02)
        names = _client_names()
    return names


async def _named_use(name: str) -> tuple[int, int]:
    client = async_redis()
    await client.client_setname(name)
    same = async_redis()
    return id(client), id(same)


def test_one_client_per_loop_closed_when_asyncio_run_ends() -> None:
    first, again = asyncio.run(_named_use("redis-async-run"))

    assert first == again
    assert "redis-async-run" not in _wait_until_gone("redis-async-run")
    assert not redis_async._loops


def test_a_client_made_under_async_to_sync_is_closed_with_its_loop() -> None:
    async_to_sync(_named_use)("redis-async-a2s")

    assert "redis-async-a2s" not in _wait_until_gone("redis-async-a2s")
    assert not redis_async._loops


def test_the_publishers_clients_are_closed_with_their_loop() -> None:
    async def publish() -> int:
        await publish_now([("redis-async-test", {"type": "ping"})])
        return len(redis_async._loops[asyncio.get_running_loop()].clients)

    assert asyncio.run(publish()) >= 1
    assert not redis_async._loops
