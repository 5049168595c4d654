"""The base for our WebSocket consumers: strict JSON frames, a frame rate limit, crash
handling, then token auth and the role check.

``StrictJsonConsumer`` is the frame discipline every socket shares:

- each text frame is read by ``marketplace.jsonsafe.loads`` (``WS_MAX_FRAME_BYTES``,
  ``JSON_MAX_DEPTH``, 64-bit integers, no NaN/Infinity); a refused frame gets an
  ``error`` frame and the socket stays open;
- a token bucket per socket (``WS_RATE_PER_SECOND``, ``WS_RATE_BURST``): a frame over
  the limit is dropped with a ``rate_limited`` error, and after ``WS_RATE_CLOSE_AFTER``
  limited frames in a row the socket is closed with 4429;
- outgoing frames are written by ``jsonsafe.dumps``, so NaN never reaches a client;
- an exception in any handler is logged once, the consumer leaves its groups and runs
  ``disconnect()``, and the socket is closed with 1011 (instead of the ASGI server
  dropping the connection with no close frame and the channel staying in its groups).

``AuthenticatedJsonConsumer`` adds the token/role check at connect.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from marketplace import jsonsafe
from marketplace.models import Role
from marketplace.realtime.ratelimit import TokenBucket

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_RATE_LIMITED = 4429
CLOSE_INTERNAL_ERROR = 1011

Message = dict[str, Any]


class StrictJsonConsumer(AsyncJsonWebsocketConsumer):
    """JSON-object frames with a string ``type``, routed to ``handlers``; see the module."""

    # Incoming message type -> name of the method that handles it.
    handlers: dict[str, str] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rate = settings.WS_RATE_PER_SECOND
        self.frame_bucket = (
            TokenBucket(rate=rate, burst=max(1, settings.WS_RATE_BURST)) if rate > 0 else None
        )
        self.limited_in_a_row = 0
        self.is_closing = False
        self.has_left = False

    # --- Crash handling -------------------------------------------------------------

    async def dispatch(self, message: Message) -> None:
        await self._guarded(super().dispatch, message)

    async def websocket_receive(self, message: Message) -> None:
        # Guarded on its own too: a subclass's dispatch may call it directly.
        await self._guarded(super().websocket_receive, message)

    async def websocket_disconnect(self, message: Message) -> None:
        if self.has_left:
            raise StopConsumer()
        self.has_left = True
        await super().websocket_disconnect(message)

    async def _guarded(
        self, handler: Callable[[Message], Awaitable[None]], message: Message
    ) -> None:
        try:
            await handler(message)
        except StopConsumer:
            raise
        except Exception:
            if self.is_closing and self.has_left:
                raise StopConsumer() from None  # already handled by an inner guard
            logger.exception(
                "socket %s: %s failed; closing with %d",
                self.scope.get("path"),
                message.get("type"),
                CLOSE_INTERNAL_ERROR,
            )
            await self._leave(CLOSE_INTERNAL_ERROR)
            self.is_closing = True
            await self.close(code=CLOSE_INTERNAL_ERROR)
            raise StopConsumer() from None

    async def _leave(self, code: int) -> None:
        """Leave the groups and run ``disconnect()``, as a client's close would."""
        try:
            await self.websocket_disconnect({"type": "websocket.disconnect", "code": code})
        except StopConsumer:
            pass
        except Exception:
            logger.exception("socket %s: leaving its groups failed", self.scope.get("path"))

    # --- Frames in --------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.is_closing:
            return
        if not self._frame_allowed():
            await self._refuse_over_limit()
            return
        if text_data is None:
            await self.send_error("invalid_frame", "Send JSON text frames, not binary.")
            return
        limit = settings.WS_MAX_FRAME_BYTES
        try:
            content = jsonsafe.loads(text_data, max_bytes=limit)
        except jsonsafe.JSONRejected as exc:
            if exc.reason == "too_large":
                await self.send_error("frame_too_large", f"Frames may be at most {limit} bytes.")
            else:
                await self.send_error("invalid_json", f"Frame is not valid JSON: {exc.msg}.")
            return
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self.send_error(
                "invalid_message",
                'Each message is a JSON object with a string "type".',
                fields={"type": ["This field is required."]},
            )
            return
        await self.receive_json(content)

    def _frame_allowed(self) -> bool:
        if self.frame_bucket is None or self.frame_bucket.take():
            self.limited_in_a_row = 0
            return True
        self.limited_in_a_row += 1
        return False

    async def _refuse_over_limit(self) -> None:
        if self.limited_in_a_row >= settings.WS_RATE_CLOSE_AFTER:
            logger.info(
                "socket %s: %d frames over the rate limit in a row; closing with %d",
                self.scope.get("path"),
                self.limited_in_a_row,
                CLOSE_RATE_LIMITED,
            )
            self.is_closing = True
            await self.close(code=CLOSE_RATE_LIMITED, reason="too many frames")
            return
        bucket = self.frame_bucket
        await self.send_error(
            "rate_limited",
            f"Too many frames: at most {bucket.rate:g} per second "
            f"(bursts of {bucket.burst:g}). This frame was dropped.",
        )

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        method = self.handlers.get(content["type"])
        if method is None:
            await self.send_error(
                "unknown_type",
                f"Unknown message type {content['type']!r}.",
                fields={"type": [f"Unknown message type {content['type']!r}."]},
            )
            return
        await getattr(self, method)(content)

    # --- Frames out -------------------------------------------------------------------

    @classmethod
    async def encode_json(cls, content: Any) -> str:
        return jsonsafe.dumps(content)

    async def realtime_forward(self, event: dict[str, Any]) -> None:
        """Group messages from ``marketplace.realtime.broadcast`` go to the client as they are."""
        await self.send_json(event["payload"])

    async def send_error(
        self, code: str, message: str, *, fields: dict[str, Any] | None = None
    ) -> None:
        await self.send_json(
            {"type": "error", "code": code, "message": message, "fields": fields or {}}
        )


class AuthenticatedJsonConsumer(StrictJsonConsumer):
    """Accepts only users with ``role``; answers bad frames with an error frame.

    A rejected socket is accepted and then closed with a 4xxx code, because a socket
    refused during the handshake reaches the client as a bare HTTP 403 with no reason.
    """

    role: Role

    async def connect(self) -> None:
        user = self.scope.get("user")
        await self.accept(subprotocol=self.scope.get("auth_subprotocol"))
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED, reason="missing or invalid token")
            return
        if user.role != self.role:
            await self.close(code=CLOSE_FORBIDDEN, reason=f"this socket is for {self.role} users")
            return
        self.user = user
        await self.on_authenticated()

    async def on_authenticated(self) -> None:
        """Join groups and send a greeting; override in subclasses."""
