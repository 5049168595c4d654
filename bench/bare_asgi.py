"""A bare ASGI WebSocket receiver that only parses JSON: the ceiling for the courier socket.

Run by bench.ingest as ``uvicorn bench.bare_asgi:app``. ``GET /stats`` answers the frames
and locations received so far, so the load generator can compute the rate server-side.
It answers ``ping`` with ``pong`` like the courier socket (the generator's flow control).
"""

from __future__ import annotations

import json
from typing import Any

_counts = {"frames": 0, "items": 0}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        body = json.dumps(_counts).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return
    if scope["type"] != "websocket":
        return
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.connect":
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": '{"type": "hello"}'})
        elif kind == "websocket.receive":
            content = json.loads(message.get("text") or "{}")
            if content.get("type") == "ping":  # the generator's flow control, as on /ws/courier/
                await send({"type": "websocket.send", "text": '{"type": "pong"}'})
                continue
            _counts["frames"] += 1
            _counts["items"] += len(content.get("items", ())) or 1
        elif kind == "websocket.disconnect":
            return
