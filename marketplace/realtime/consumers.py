"""The base for our WebSocket consumers: token auth, role check, JSON frames, errors."""

from __future__ import annotations

import json
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from marketplace.models import Role

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


class AuthenticatedJsonConsumer(AsyncJsonWebsocketConsumer):
    """Accepts only users with ``role``; answers bad frames with an error frame.

    A rejected socket is accepted and then closed with a 4xxx code, because a socket
    refused during the handshake reaches the client as a bare HTTP 403 with no reason.
    """

    role: Role
    # Incoming message type -> name of the method that handles it.
    handlers: dict[str, str] = {}

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

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self.send_error("invalid_frame", "Send JSON text frames, not binary.")
            return
        try:
            content = json.loads(text_data)
        except json.JSONDecodeError as exc:
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

    async def realtime_forward(self, event: dict[str, Any]) -> None:
        """Group messages from ``marketplace.realtime.broadcast`` go to the client as they are."""
        await self.send_json(event["payload"])

    async def send_error(
        self, code: str, message: str, *, fields: dict[str, Any] | None = None
    ) -> None:
        await self.send_json(
            {"type": "error", "code": code, "message": message, "fields": fields or {}}
        )
