"""asyncio Redis clients per event loop, for code that talks to Redis on the loop.

An asyncio client's connections belong to the loop they were opened on, so a process
with several loops (tests, ``async_to_sync`` calls) gets its own clients per loop. They
are closed when their loop shuts down: ``asyncio.run``, ``asyncio.Runner`` (uvicorn,
pytest-asyncio) and asgiref all finalise the loop's async generators before closing it,
and one parked generator per loop is what closes that loop's clients then. Without that,
every finished loop would leave its sockets to the garbage collector.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from django.conf import settings


@dataclass
class _LoopClients:
    clients: dict[str, aioredis.Redis] = field(default_factory=dict)
    closer: AsyncIterator[None] | None = None
    started: asyncio.Task | None = None


_loops: dict[asyncio.AbstractEventLoop, _LoopClients] = {}


async def _close_on_loop_shutdown(loop: asyncio.AbstractEventLoop) -> AsyncIterator[None]:
    """Parks at its ``yield``; the loop's ``shutdown_asyncgens()`` resumes the ``finally``."""
    try:
        yield
    finally:
        entry = _loops.pop(loop, None)
        for client in entry.clients.values() if entry else ():
            await client.aclose()


def loop_client(name: str, make: Callable[[], aioredis.Redis]) -> aioredis.Redis:
    """The running loop's client called ``name``, made by ``make()`` on first use."""
    loop = asyncio.get_running_loop()
    entry = _loops.get(loop)
    if entry is None:
        entry = _loops[loop] = _LoopClients()
        # The loop tracks started async generators (weakly: ``_loops`` holds this one)
        # and closes them in shutdown_asyncgens(); start it so it is parked and tracked.
        entry.closer = _close_on_loop_shutdown(loop)
        entry.started = loop.create_task(anext(entry.closer, None))
    client = entry.clients.get(name)
    if client is None:
        client = entry.clients[name] = make()
    return client


def async_redis() -> aioredis.Redis:
    """The running loop's client for REDIS_URL (2 s socket timeout, as the sync ones)."""
    return loop_client(
        "default", lambda: aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    )
