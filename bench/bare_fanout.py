"""A bare ASGI fan-out over the same Redis pub/sub: the ceiling for ping → tracker frames.

Run by bench.fanout as ``uvicorn bench.bare_fanout:app``. ``/courier/{job}`` publishes each
text frame it receives to the Redis channel of that job, unchanged; ``/track/{job}``
subscribes to it and forwards every message. No Django, no parsing beyond the route.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import redis.asyncio as aioredis

_client: aioredis.Redis | None = None


def _redis() -> aioredis.Redis:
    global _client
    if _client is None:
        # One pub/sub connection per tracker socket: far more than the default pool.
        _client = aioredis.Redis.from_url(os.environ["REDIS_URL"], max_connections=20_000)
    return _client


async def _accept(receive: Any, send: Any) -> None:
    message = await receive()
    assert message["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    if scope["type"] != "websocket":
        return
    kind, _, job = scope["path"].strip("/").partition("/")
    channel = f"bare-fanout:{job}"
    await _accept(receive, send)
    if kind == "courier":
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text"):
                await _redis().publish(channel, message["text"])
        return
    pubsub = _redis().pubsub()
    await pubsub.subscribe(channel)
    await send({"type": "websocket.send", "text": '{"type": "snapshot"}'})

    async def forward() -> None:
        async for item in pubsub.listen():
            if item["type"] == "message":
                await send({"type": "websocket.send", "text": item["data"].decode()})

    task = asyncio.ensure_future(forward())
    try:
        while (await receive())["type"] != "websocket.disconnect":
            pass
    finally:
        task.cancel()
        await pubsub.aclose()
