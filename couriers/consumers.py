"""The courier socket ``/ws/courier/``: the courier app's live channel.

In: ``ping``, ``location`` (one fix) and ``locations`` (``items``: up to
LOCATION_BATCH_MAX_ITEMS fixes). Out: ``hello``, ``pong``, ``error`` and whatever is
broadcast to the courier's group (``offer``, ``job_update``, ``availability``...).

Accepted fixes get no reply (the stream is one-way); bad ones get an ``error`` frame with
code ``invalid_location`` naming the fields (per item index for a batch), and the good
items of a batch are still stored. Pings are queued on the process's ``location_buffer``,
never written on the event loop. The rules (offline refusal, batch size, plausibility,
tracking throttle) are the services' (``couriers.services``, ``couriers.locations``),
the same ones the REST endpoint calls.

The courier's status and active job are read once at connect (``courier_live_state``)
and then kept current from messages that reach this socket, so a ping costs no database
read: ``availability`` frames (going on- or offline), and ``courier.job`` events that
``courier_job_assign`` / ``courier_job_release`` send when the courier takes or lets go of
a job. A re-read every LIVE_STATE_REFRESH_SECONDS covers a message that was missed.
"""

from __future__ import annotations

import time
from typing import Any

from channels.db import database_sync_to_async
from django.utils import timezone

from couriers.ingest import location_buffer
from couriers.locations import CourierTrack, InvalidLocation, location_batch_check
from couriers.selectors import courier_live_state
from couriers.services import (
    CourierOffline,
    TrackingGate,
    locations_judge,
    tracking_broadcast_async,
)
from marketplace.models import Role
from marketplace.realtime.consumers import AuthenticatedJsonConsumer
from marketplace.realtime.groups import courier_group

LIVE_STATE_REFRESH_SECONDS = 60.0


class CourierConsumer(AuthenticatedJsonConsumer):
    """Courier app socket: location stream in, offers and job updates out."""

    role = Role.COURIER
    handlers = {"ping": "on_ping", "location": "on_location", "locations": "on_locations"}

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Frames skip Channels' per-message ``aclose_old_connections()``.

        Channels 4.2+ runs ``close_old_connections`` in the shared sync thread before every
        message: a thread hop per location frame, measured at a third of the server's time
        under load, serialised through one thread. Frame handlers here never touch the
        database on the event loop (reads go through ``database_sync_to_async``, which
        closes old connections itself; writes are on the writer thread), so it buys nothing.
        """
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
        else:
            await super().dispatch(message)

    async def on_authenticated(self) -> None:
        self.courier_pk = self.user.courier.pk
        self.group = courier_group(self.courier_pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self._load_state()
        self.tracking_gate = TrackingGate()
        await self.send_json({"type": "hello", "courier_id": self.courier_pk})

    async def _load_state(self, track: CourierTrack | None = None) -> None:
        self.state = await database_sync_to_async(courier_live_state)(
            courier_pk=self.courier_pk, track=track
        )
        self.state_loaded_at = time.monotonic()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def on_ping(self, content: dict[str, Any]) -> None:
        await self.send_json({"type": "pong", "id": content.get("id")})

    async def on_location(self, content: dict[str, Any]) -> None:
        await self._ingest([content], is_batch=False)

    async def on_locations(self, content: dict[str, Any]) -> None:
        try:
            items = location_batch_check(content.get("items"))
        except InvalidLocation as exc:
            await self.send_error("invalid_location", exc.fields["items"][0], fields=exc.fields)
            return
        await self._ingest(items, is_batch=True)

    async def _ingest(self, items: list[Any], *, is_batch: bool) -> None:
        if time.monotonic() - self.state_loaded_at > LIVE_STATE_REFRESH_SECONDS:
            await self._load_state(track=self.state.track)
        try:
            accepted, rejected = locations_judge(
                items, status=self.state.status, track=self.state.track, now=timezone.now()
            )
        except CourierOffline as exc:
            await self.send_error(exc.code, exc.message)
            return
        pings = [ping for _, ping in accepted]
        if pings:
            location_buffer.add(pings)
            if self.state.active_job_pk is not None:
                await tracking_broadcast_async(
                    job_pk=self.state.active_job_pk,
                    pings=pings,
                    gate=self.tracking_gate,
                    vehicle=self.state.track.vehicle,
                )
            if location_buffer.is_backed_up():
                await location_buffer.wait_for_writer()
        if rejected:
            fields = (
                {"items": {str(index): errors for index, errors in rejected.items()}}
                if is_batch
                else rejected[0]
            )
            await self.send_error(
                "invalid_location",
                f"{len(rejected)} location(s) refused, {len(pings)} stored.",
                fields=fields,
            )

    async def realtime_forward(self, event: dict[str, Any]) -> None:
        """Keep the cached status in step with the ``availability`` the courier is told."""
        payload = event["payload"]
        if payload.get("type") == "availability":
            self.state.status = payload["status"]
        await self.send_json(payload)

    async def courier_job(self, event: dict[str, Any]) -> None:
        """The courier took or let go of a job (``couriers.services``); nothing is sent.

        A release only counts for the job held now: a late release of an earlier job must
        not stop tracking the current one.
        """
        state = self.state
        if event["holds"]:
            state.active_job_pk = event["job_id"]
            state.status = event["status"]
        elif event["job_id"] == state.active_job_pk:
            state.active_job_pk = None
            state.status = event["status"]
