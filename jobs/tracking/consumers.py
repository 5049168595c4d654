"""The recipient's socket ``/ws/track/{token}/`` and the shop's socket ``/ws/shop/``.

Tracking (anonymous; the token in the path is the credential): on connect a ``snapshot``
frame equal to the JSON endpoint's body, then ``status`` (the whole view again, after any
job event), ``eta`` and ``courier_location`` frames, all built by ``jobs.tracking`` under
the same visibility rules. Unknown, rotated or expired links close with 4404, too many
connects with 4429; when the link expires or is rotated while open, a ``closed`` frame and
close 4410.

Shop (shop token, as the courier socket; 4401 without one, 4403 for other roles): on
connect a ``snapshot`` of the shop's active jobs and the newest event id; then every job
event in the webhook envelope (``id`` = the event id) and ``courier_location`` for the
shop's jobs while a courier holds them. ``{"type": "resume", "after": <event id>}``
replays the events after that one from the database, in id order, then a ``resumed``
frame; live frames wait meanwhile and follow, skipping any the replay already carried, so
nothing is lost between the two and nothing is sent twice.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from datetime import datetime
from typing import Any

from channels.db import database_sync_to_async
from django.utils import timezone

from jobs.models import Job
from jobs.tracking import privacy
from jobs.tracking.publish import REVOKE
from jobs.tracking.selectors import (
    RESUME_MAX_EVENTS,
    latest_fixes,
    shop_active_jobs,
    shop_events_after,
    shop_latest_event_id,
    tracking_view,
    with_photo_urls,
)
from jobs.tracking.throttles import tracking_rate_check
from jobs.tracking.tokens import job_for_tracking_token, tracking_token_hash
from jobs.webhooks import event_envelope
from marketplace.models import Role
from marketplace.realtime.broadcast import FORWARD
from marketplace.realtime.consumers import AuthenticatedJsonConsumer
from marketplace.realtime.groups import shop_group, track_group

# How many sent event ids a shop socket remembers: more than one resume can replay.
SENT_IDS_KEPT = 4 * RESUME_MAX_EVENTS

CLOSE_NOT_FOUND = 4404
CLOSE_GONE = 4410
CLOSE_TOO_MANY = 4429


def _snapshot(job: Job, token: str) -> dict[str, Any]:
    return {"type": "snapshot", **with_photo_urls(tracking_view(job), token=token)}


def _connect_tracking(token: str, address: str) -> tuple[str, Job | None, dict | None]:
    if tracking_rate_check(token=token, address=address) is not None:
        return "throttled", None, None
    job = job_for_tracking_token(token)
    if job is None:
        return "not_found", None, None
    return "ok", job, _snapshot(job, token)


class TrackingConsumer(AuthenticatedJsonConsumer):
    """One recipient following one job. In: ``ping``. Out: see the module docstring."""

    handlers = {"ping": "on_ping"}

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Group frames skip Channels' per-message ``aclose_old_connections()``.

        It is a thread hop per message, and a busy job sends several frames a second to
        every socket following it; forwarding a frame never touches the database.
        """
        if message["type"] == FORWARD:
            await self._guarded(self.realtime_forward, message)
        else:
            await super().dispatch(message)

    async def connect(self) -> None:
        # No account: the link authorises, so the base class's role check is skipped.
        await self.accept()
        self.token = self.scope["url_route"]["kwargs"]["token"]
        client = self.scope.get("client") or ("unknown", 0)
        outcome, job, snapshot = await database_sync_to_async(_connect_tracking)(
            self.token, client[0]
        )
        if outcome == "throttled":
            await self.close(code=CLOSE_TOO_MANY, reason="too many requests")
            return
        if job is None:
            await self.close(code=CLOSE_NOT_FOUND, reason="not found")
            return
        self.job_pk = job.pk
        self.token_hash = tracking_token_hash(self.token)
        self.expiry: asyncio.TimerHandle | None = None
        self.group = track_group(job.pk)
        self.status = snapshot["status"]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json(snapshot)
        self._schedule_expiry(snapshot["expires_at"])

    async def disconnect(self, code: int) -> None:
        if getattr(self, "expiry", None) is not None:
            self.expiry.cancel()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def on_ping(self, content: dict[str, Any]) -> None:
        await self.send_json({"type": "pong", "id": content.get("id")})

    def _schedule_expiry(self, expires_at: str | None) -> None:
        if expires_at is None or self.expiry is not None:
            return
        delay = (datetime.fromisoformat(expires_at) - timezone.now()).total_seconds()
        loop = asyncio.get_running_loop()
        self.expiry = loop.call_later(
            max(0.0, delay), lambda: asyncio.ensure_future(self._close_link("expired"))
        )

    async def _close_link(self, reason: str) -> None:
        await self.send_json({"type": "closed", "reason": reason})
        await self.close(code=CLOSE_GONE, reason=f"link {reason}")

    async def realtime_forward(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        kind = payload.get("type")
        if kind == REVOKE:
            if payload["token_hash"] != self.token_hash:
                await self._close_link("revoked")
            return
        if kind == "status":
            self.status = payload["status"]
            await self.send_json(with_photo_urls(payload, token=self.token))
            self._schedule_expiry(payload.get("expires_at"))
        elif kind == "courier_location":
            if privacy.recipient_may_see_location(self.status):
                await self.send_json(payload)
        elif kind == "eta":
            await self.send_json(payload)
        # Anything else sent to the group is not for recipients and is dropped.


def _shop_job(job: Job) -> dict[str, Any]:
    location = None
    if job.courier_id is not None and privacy.shop_may_see_location(job.status):
        shown, _ = latest_fixes(job.courier_id)
        if shown is not None:
            location = {
                "lat": shown.point.y,
                "lng": shown.point.x,
                "heading": shown.heading,
                "recorded_at": shown.recorded_at.isoformat(),
            }
    return {
        "job_id": str(job.pk),
        "external_ref": job.external_ref,
        "status": job.status,
        "seq": job.last_event_seq,
        "courier_id": job.courier_id,
        "updated_at": job.updated_at.isoformat(),
        "courier_location": location,
    }


def shop_snapshot(shop_pk: int) -> dict[str, Any]:
    from marketplace.models import Shop

    shop = Shop.objects.get(pk=shop_pk)
    last_event_id = shop_latest_event_id(shop=shop)
    return {
        "type": "snapshot",
        "last_event_id": last_event_id,
        "jobs": [_shop_job(job) for job in shop_active_jobs(shop=shop)],
    }


def shop_replay(shop_pk: int, after: int) -> list[dict[str, Any]]:
    from marketplace.models import Shop

    events = shop_events_after(shop=Shop.objects.get(pk=shop_pk), after=after)
    return [event_envelope(event=e, job=e.job, envelope_id=e.pk) for e in events]


def _is_event(payload: dict[str, Any]) -> bool:
    return isinstance(payload.get("id"), int) and str(payload.get("type", "")).startswith("job.")


class ShopConsumer(AuthenticatedJsonConsumer):
    """A shop's live view of its jobs. In: ``ping``, ``resume``."""

    role = Role.SHOP
    handlers = {"ping": "on_ping", "resume": "on_resume"}

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Group frames skip Channels' per-message ``aclose_old_connections()``.

        It is a thread hop per message, and a busy job sends several frames a second to
        every socket following it; forwarding a frame never touches the database.
        """
        if message["type"] == FORWARD:
            await self._guarded(self.realtime_forward, message)
        else:
            await super().dispatch(message)

    async def on_authenticated(self) -> None:
        self.shop_pk = self.user.shop_id
        # Ids of the events this socket has sent (the newest SENT_IDS_KEPT), so that
        # neither a replay nor a live frame ever sends one event twice.
        self.sent_ids: OrderedDict[int, None] = OrderedDict()
        self.group = shop_group(self.shop_pk)
        # Join first, so no event can fall between the snapshot and the live frames.
        await self.channel_layer.group_add(self.group, self.channel_name)
        snapshot = await database_sync_to_async(shop_snapshot)(self.shop_pk)
        # The last status this socket was told per job (events follow in publish order).
        self.statuses: dict[str, str] = {job["job_id"]: job["status"] for job in snapshot["jobs"]}
        await self.send_json(snapshot)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def on_ping(self, content: dict[str, Any]) -> None:
        await self.send_json({"type": "pong", "id": content.get("id")})

    async def on_resume(self, content: dict[str, Any]) -> None:
        after = content.get("after")
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            await self.send_error(
                "invalid_message",
                "resume needs after: the id of the last event you have (a whole number ≥ 0).",
                fields={"after": ["A whole number ≥ 0 is required."]},
            )
            return
        # Group messages wait while this handler runs (a consumer handles one message at
        # a time), so the live frames for events committed meanwhile come after the
        # replay; those the replay already carried are skipped then. Events this socket
        # already sent live before the resume arrived are not sent again.
        replayed = await database_sync_to_async(shop_replay)(self.shop_pk, after)
        unsent = [envelope for envelope in replayed if envelope["id"] not in self.sent_ids]
        for envelope in unsent:
            self._note_sent(envelope["id"])
            await self.send_json(envelope)
        await self.send_json(
            {
                "type": "resumed",
                "after": after,
                "count": len(unsent),
                "more": len(replayed) >= RESUME_MAX_EVENTS,
            }
        )

    def _note_sent(self, event_id: int) -> None:
        self.sent_ids[event_id] = None
        if len(self.sent_ids) > SENT_IDS_KEPT:
            self.sent_ids.popitem(last=False)

    async def realtime_forward(self, event: dict[str, Any]) -> None:
        payload = event["payload"]
        if _is_event(payload):
            if payload["id"] in self.sent_ids:
                return
            self._note_sent(payload["id"])
            data = payload.get("data") or {}
            if data.get("status"):
                self.statuses[data["job_id"]] = data["status"]
        elif payload.get("type") == "courier_location":
            status = self.statuses.get(payload.get("job_id"))
            if status is not None and not privacy.shop_may_see_location(status):
                return  # the job left the shop's window after this fix was judged
        await self.send_json(payload)
