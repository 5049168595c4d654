"""One asyncio Redis client per event loop, for code that talks to Redis on the loop.

An asyncio client's connections belong to the loop they were opened on, so a process
with several loops (tests, ``async_to_sync`` calls) gets one client per loop; a loop's
client goes away with the loop.
"""

from __future__ import annotations

import asyncio
import weakref

import redis.asyncio as aioredis
from django.conf import settings

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = (
    weakref.WeakKeyDictionary()
)


def async_redis() -> aioredis.Redis:
    """The running loop's client for REDIS_URL (2 s socket timeout, as the sync ones)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    return client
