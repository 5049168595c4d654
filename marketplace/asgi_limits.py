"""Refuse oversized HTTP bodies with 413 before Django reads them.

Django under ASGI spools the whole body to memory or disk before any view runs, and
uvicorn sets no limit, so the limit is enforced here: at once when Content-Length is too
big, and while streaming when a chunked body grows past it.

Routes that take proof photos (multipart) get a larger allowance, ``upload_body_limits()``:
everything else keeps ``max_bytes``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from django.conf import settings

from marketplace.api.errors import error_body

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Room for the multipart boundaries, part headers and the small text fields of a step.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
# The courier steps that accept images: pickup (a photo) and deliver (a photo and a
# signature). Exact paths, so no other route under courier/jobs/ gets the allowance.
PROOF_UPLOAD_PATH = re.compile(r"/api/v1/courier/jobs/[0-9a-fA-F-]{36}/(?:pickup|deliver)/")
PROOF_IMAGES_PER_REQUEST = 2


def upload_body_limits() -> list[tuple[re.Pattern[str], int]]:
    """(full-match path pattern, body limit) for routes that take proof images."""
    images = PROOF_IMAGES_PER_REQUEST * settings.PROOF_PHOTO_MAX_BYTES
    return [(PROOF_UPLOAD_PATH, images + MULTIPART_OVERHEAD_BYTES)]


class BodySizeLimit:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        path_limits: Sequence[tuple[re.Pattern[str], int]] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = list(upload_body_limits() if path_limits is None else path_limits)

    def limit_for(self, path: str) -> int:
        """The body limit for ``path``: an upload route's allowance, else ``max_bytes``."""
        for pattern, limit in self.path_limits:
            if pattern.fullmatch(path):
                return max(limit, self.max_bytes)
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > max_bytes:
            await self._refuse(send, max_bytes)
            return

        received = 0
        too_large = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    too_large = True
                    # Django stops reading and sends nothing when the client "leaves".
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        await self.app(scope, limited_receive, tracking_send)
        if too_large and not response_started:
            await self._refuse(send, max_bytes)

    async def _refuse(self, send: Send, max_bytes: int) -> None:
        body = json.dumps(
            error_body(
                "request_too_large",
                f"The request body is larger than {max_bytes} bytes.",
            )
        ).encode()
        # No "Connection: close": closing with the client's body still unread makes the
        # kernel send a reset, and the client loses the 413. Kept alive, the server reads
        # the rest of the body and drops it without buffering.
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
