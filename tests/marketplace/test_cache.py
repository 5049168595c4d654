"""The cache keeps one Redis connection pool per process, whatever the request context."""

from __future__ import annotations

import asyncio
import threading

from asgiref.sync import sync_to_async
from django.core.cache import cache, caches


def test_every_request_context_and_thread_shares_one_client() -> None:
    clients = []

    def remember() -> None:
        cache.get("probe")
        clients.append(caches["default"]._cache)

    async def one_request() -> None:
        # Under ASGI each request is its own context, so Django builds a new backend.
        await sync_to_async(remember, thread_sensitive=False)()

    async def many() -> None:
        await asyncio.gather(*(one_request() for _ in range(10)))

    asyncio.run(many())
    threads = [threading.Thread(target=remember) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(clients) == 15
    assert len({id(client) for client in clients}) == 1
