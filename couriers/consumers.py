"""The courier socket ``/ws/courier/``: the courier app's live channel.

In: ``ping``, ``location`` (one fix) and ``locations`` (``items``: up to
LOCATION_BATCH_MAX_ITEMS fixes). Out: ``hello``, ``pong``, ``error`` and whatever is
broadcast to the courier's group (``offer``, ``job_update``, ``availability``...).

Accepted fixes get no reply (the stream is one-way); bad ones get an ``error`` frame with
code ``invalid_location`` naming the fields (per item index for a batch), and the good
items of a batch are still stored. Pings are queued on the process's ``location_buffer``,
never written on the event loop. The courier's status and active job are read once at
connect and then kept current from the ``availability`` and ``job_update`` messages that
reach this socket, with a re-read every LIVE_STATE_REFRESH_SECONDS in case one was missed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from couriers.ingest import location_buffer
from couriers.locations import CourierTrack
from couriers.models import Courier, CourierStatus
from couriers.selectors import courier_active_job_pk
from couriers.services import (
    courier_track_load,
    judge_items,
    tracking_broadcast_claim,
    tracking_latest_shown,
    tracking_payload,
)
from jobs.models import COURIER_ACTIVE_STATUSES
from marketplace.models import Role
from marketplace.realtime.broadcast import group_message
from marketplace.realtime.consumers import AuthenticatedJsonConsumer
from marketplace.realtime.groups import courier_group, job_group

LIVE_STATE_REFRESH_SECONDS = 60.0
_ACTIVE = {str(status) for status in COURIER_ACTIVE_STATUSES}


@dataclass
class LiveState:
    status: str
    active_job_pk: str | None
    track: CourierTrack


def courier_live_state(*, courier_pk: int, track: CourierTrack | None = None) -> LiveState:
    """Status, active job and (unless given) the plausibility track, from the database."""
    courier = Courier.objects.only("pk", "status", "vehicle", "position_recorded_at").get(
        pk=courier_pk
    )
    job_pk = courier_active_job_pk(courier_pk=courier_pk)
    return LiveState(
        status=courier.status,
        active_job_pk=str(job_pk) if job_pk else None,
        track=track or courier_track_load(courier=courier),
    )


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
        self.last_broadcast = float("-inf")
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
        items = content.get("items")
        limit = settings.LOCATION_BATCH_MAX_ITEMS
        problem = None
        if not isinstance(items, list) or not items:
            problem = "A non-empty list of locations is required."
        elif len(items) > limit:
            problem = f"At most {limit} locations per message."
        if problem:
            await self.send_error("invalid_location", problem, fields={"items": [problem]})
            return
        await self._ingest(items, is_batch=True)

    async def _ingest(self, items: list[Any], *, is_batch: bool) -> None:
        if time.monotonic() - self.state_loaded_at > LIVE_STATE_REFRESH_SECONDS:
            await self._load_state(track=self.state.track)
        if self.state.status == CourierStatus.OFFLINE:
            await self.send_error(
                "courier_offline", "You are offline: go online before sending locations."
            )
            return
        accepted, rejected = judge_items(items, track=self.state.track, now=timezone.now())
        pings = [ping for _, ping in accepted]
        if pings:
            location_buffer.add(pings)
            if self.state.active_job_pk is not None:
                await self._broadcast(pings)
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

    async def _broadcast(self, pings: list[Any]) -> None:
        """At most one ``courier_location`` per interval per job: a local gate, then Redis."""
        job_pk = self.state.active_job_pk
        ping = tracking_latest_shown(pings)
        now = time.monotonic()
        if ping is None or now - self.last_broadcast < settings.TRACKING_BROADCAST_INTERVAL_SECONDS:
            return
        self.last_broadcast = now
        claim = sync_to_async(tracking_broadcast_claim, thread_sensitive=False)
        if await claim(job_pk=job_pk):
            payload = tracking_payload(job_pk=job_pk, ping=ping)
            await self.channel_layer.group_send(job_group(job_pk), group_message(payload))

    async def realtime_forward(self, event: dict[str, Any]) -> None:
        """Keep the cached status and active job in step with what the courier is told."""
        payload = event["payload"]
        kind = payload.get("type")
        if kind == "availability":
            self.state.status = payload["status"]
        elif kind == "job_update":
            self._note_job_update(payload)
        await self.send_json(payload)

    def _note_job_update(self, payload: dict[str, Any]) -> None:
        state = self.state
        if payload.get("courier_id") == self.courier_pk and payload.get("status") in _ACTIVE:
            state.active_job_pk = payload["job_id"]
            state.status = CourierStatus.BUSY
        elif payload.get("job_id") == state.active_job_pk:
            state.active_job_pk = None
            if state.status == CourierStatus.BUSY:
                state.status = CourierStatus.AVAILABLE
