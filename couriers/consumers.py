"""The courier socket ``/ws/courier/``: the courier app's live channel."""

from __future__ import annotations

from typing import Any

from marketplace.models import Role
from marketplace.realtime.consumers import AuthenticatedJsonConsumer
from marketplace.realtime.groups import courier_group


class CourierConsumer(AuthenticatedJsonConsumer):
    """In: ``ping``. Out: ``hello``, ``pong`` and whatever is broadcast to the courier's group."""

    role = Role.COURIER
    handlers = {"ping": "on_ping"}

    async def on_authenticated(self) -> None:
        self.courier_pk = self.user.courier.pk
        self.group = courier_group(self.courier_pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json({"type": "hello", "courier_id": self.courier_pk})

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def on_ping(self, content: dict[str, Any]) -> None:
        await self.send_json({"type": "pong", "id": content.get("id")})
