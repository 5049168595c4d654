"""One asyncio Redis client per event loop, for code that talks to Redis on the loop.

An asyncio client's connections belong to the loop they were opened on, so a process
with several loops (tests, ``async_to_sync`` calls) gets one client per loop. The client
is closed when its loop shuts down: ``asyncio.run``, ``asyncio.Runner`` (uvicorn,
pytest-asyncio) and asgiref all finalise the loop's async generators before closing it,
and a parked generator per client is what closes the client's connections then. Without
that, every finished loop would leave its sockets to the garbage collector.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from django.conf import settings

_clients: dict[
    asyncio.AbstractEventLoop, tuple[aioredis.Redis, AsyncIterator[None], asyncio.Task]
] = {}


async def _close_on_loop_shutdown(
    loop: asyncio.AbstractEventLoop, client: aioredis.Redis
) -> AsyncIterator[None]:
    """Parks at its ``yield``; the loop's ``shutdown_asyncgens()`` resumes the ``finally``."""
    try:
        yield
    finally:
        _clients.pop(loop, None)
        await client.aclose()


def async_redis() -> aioredis.Redis:
    """The running loop's client for REDIS_URL (2 s socket timeout, as the sync ones)."""
    loop = asyncio.get_running_loop()
    entry = _clients.get(loop)
    if entry is None:
        client = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
        closer = _close_on_loop_shutdown(loop, client)
        # The loop tracks started async generators (weakly: ``_clients`` holds it) and
        # closes them in shutdown_asyncgens(); start it so it is parked and tracked.
        started = loop.create_task(anext(closer, None))
        entry = _clients[loop] = (client, closer, started)
    return entry[0]
