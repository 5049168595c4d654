"""The live position path: the job's tracking state in Redis, the courier socket's
publish on the event loop, and the privacy windows holding while pings race transitions."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.utils import timezone

from couriers.ingest import location_buffer
from couriers.models import CourierStatus
from jobs.lifecycle import job_transition
from jobs.models import Job, JobStatus
from jobs.tracking.privacy import round_to_grid
from jobs.tracking.state import (
    TrackingState,
    _key,
    _parse,
    _sync_client,
    state_of,
    tracking_state_get,
    tracking_state_write,
)
from jobs.tracking.tokens import job_tracking_token
from marketplace.asgi import application
from marketplace.realtime.groups import shop_group, track_group
from marketplace.realtime.publish_async import publish_now
from tests.couriers.conftest import fix as courier_fix
from tests.couriers.conftest import online_courier
from tests.factories import JobFactory, ShopUserFactory
from tests.jobs.tracking_helpers import tracked_job

pytestmark = pytest.mark.django_db(transaction=True)
S = JobStatus


@pytest.fixture(autouse=True)
def _stop_location_writer() -> Iterator[None]:
    """The courier socket starts the location writer, whose thread holds a connection."""
    yield
    location_buffer.stop()


def stored_state(job_pk: object) -> TrackingState | None:
    return _parse(_sync_client().hgetall(_key(job_pk)))


def move(job: Job, to: JobStatus) -> None:
    job_transition(job=Job.objects.get(pk=job.pk), to=to, actor=None)


async def open_tracking(token: str) -> tuple[WebsocketCommunicator, dict]:
    communicator = WebsocketCommunicator(application, f"/ws/track/{token}/")
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator, await communicator.receive_json_from(timeout=5)


async def open_courier(courier: Any) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, f"/ws/courier/?token={courier.user.auth_token.key}")
    connected, _ = await socket.connect(timeout=5)
    assert connected
    assert (await socket.receive_json_from(timeout=5))["type"] == "hello"
    return socket


def test_every_job_event_stores_the_tracking_state_once_committed() -> None:
    job, _ = tracked_job(S.ASSIGNED)
    assert stored_state(job.pk) is None  # made outside the lifecycle: nothing yet

    move(job, S.AT_PICKUP)
    at_pickup = stored_state(job.pk)
    move(job, S.PICKED_UP)
    picked_up = stored_state(job.pk)

    job.refresh_from_db()
    assert at_pickup == TrackingState(
        seq=job.last_event_seq - 1,
        status="at_pickup",
        shop_id=job.shop_id,
        courier_id=job.courier_id,
        pickup=(job.pickup_point.y, job.pickup_point.x),
        dropoff=(job.dropoff_point.y, job.dropoff_point.x),
    )
    assert picked_up == state_of(job)
    assert picked_up.status == "picked_up"


def test_an_older_event_never_replaces_a_newer_state() -> None:
    job, _ = tracked_job(S.PICKED_UP)
    newer = replace(state_of(job), seq=7, status="delivered")
    older = replace(newer, seq=6, status="at_dropoff")

    assert tracking_state_write(state=newer, job_pk=job.pk) is True
    assert tracking_state_write(state=older, job_pk=job.pk) is False

    assert stored_state(job.pk) == newer


async def test_a_missing_state_is_refilled_from_the_database() -> None:
    job, _ = await database_sync_to_async(tracked_job)(S.PICKED_UP)

    state = await tracking_state_get(job_pk=job.pk)

    assert state is not None
    assert (state.status, state.courier_id, state.seq) == ("picked_up", job.courier_id, 0)
    assert await database_sync_to_async(stored_state)(job.pk) == state


async def test_every_claimed_ping_reaches_the_tracker_none_skipped(settings) -> None:
    settings.TRACKING_BROADCAST_INTERVAL_SECONDS = 0  # every ping is due a frame
    courier = await database_sync_to_async(online_courier)(status=CourierStatus.BUSY)
    job = await database_sync_to_async(JobFactory)(courier=courier, status=S.PICKED_UP)
    tracker, _ = await open_tracking(job_tracking_token(job))
    socket = await open_courier(courier)
    start = timezone.now() - timedelta(seconds=5)
    sent = [
        courier_fix(52.5101 + i * 0.0001, 13.3901, at=start + timedelta(seconds=i), heading=0)
        for i in range(5)
    ]

    for body in sent:
        await socket.send_json_to({"type": "location", **body})
        await asyncio.sleep(0.01)  # past the 1 ms claim of the one before
    frames = [await tracker.receive_json_from(timeout=5) for _ in range(10)]

    locations = [f for f in frames if f["type"] == "courier_location"]
    assert [f["recorded_at"] for f in locations] == [b["recorded_at"] for b in sent]
    assert (locations[0]["lat"], locations[0]["lng"]) == round_to_grid(52.5101, 13.3901)
    etas = [f for f in frames if f["type"] == "eta"]
    assert len(etas) == 5
    assert {e["eta"]["source"] for e in etas} == {"straight_line"}
    await socket.disconnect()
    await tracker.disconnect()


async def test_a_late_position_never_reaches_the_recipient_outside_the_window() -> None:
    """A publisher that judged a fix by the state a transition just replaced still
    cannot show it: the socket knows the last status it sent, in publish order."""
    job, token = await database_sync_to_async(tracked_job)(S.AT_PICKUP)
    tracker, snapshot = await open_tracking(token)
    assert snapshot["courier_location"] is None
    location = {"type": "courier_location", "lat": 52.51, "lng": 13.39, "heading": None,
                "recorded_at": timezone.now().isoformat()}  # fmt: skip

    await publish_now([(track_group(job.pk), location)])  # before pickup
    assert await tracker.receive_nothing(timeout=0.5)

    await database_sync_to_async(move)(job, S.PICKED_UP)
    assert (await tracker.receive_json_from(timeout=5))["status"] == "picked_up"
    await publish_now([(track_group(job.pk), location)])
    assert await tracker.receive_json_from(timeout=5) == location

    await database_sync_to_async(move)(job, S.AT_DROPOFF)
    await database_sync_to_async(move)(job, S.DELIVERED)
    for expected in ("at_dropoff", "delivered"):
        assert (await tracker.receive_json_from(timeout=5))["status"] == expected
    await publish_now([(track_group(job.pk), location)])  # after delivery
    assert await tracker.receive_nothing(timeout=0.5)
    await tracker.disconnect()


async def test_a_late_position_never_reaches_the_shop_after_the_job_ended() -> None:
    shop_user = await database_sync_to_async(ShopUserFactory)()
    job, _ = await database_sync_to_async(tracked_job)(S.AT_DROPOFF, shop=shop_user.shop)
    shop = WebsocketCommunicator(
        application,
        "/ws/shop/",
        headers=[(b"authorization", f"Token {shop_user.auth_token.key}".encode())],
    )
    assert (await shop.connect(timeout=5))[0]
    assert (await shop.receive_json_from(timeout=5))["type"] == "snapshot"
    location = {"type": "courier_location", "job_id": str(job.pk), "lat": 52.51,
                "lng": 13.39, "heading": None, "speed_mps": None,
                "recorded_at": timezone.now().isoformat()}  # fmt: skip

    await publish_now([(shop_group(job.shop_id), location)])
    assert await shop.receive_json_from(timeout=5) == location
    await database_sync_to_async(move)(job, S.DELIVERED)
    assert (await shop.receive_json_from(timeout=5))["type"] == "job.delivered"
    await publish_now([(shop_group(job.shop_id), location)])

    assert await shop.receive_nothing(timeout=0.5)
    await shop.disconnect()


async def test_pings_racing_the_transitions_show_positions_only_inside_the_window(
    settings,
) -> None:
    """A thread walks the job at_pickup → picked_up → at_dropoff → delivered while the
    courier's socket streams a fix every 60 ms (the throttle passes each)."""
    settings.TRACKING_BROADCAST_INTERVAL_SECONDS = 0
    courier = await database_sync_to_async(online_courier)(status=CourierStatus.BUSY)
    job = await database_sync_to_async(JobFactory)(courier=courier, status=S.AT_PICKUP)
    tracker, _ = await open_tracking(job_tracking_token(job))
    socket = await open_courier(courier)
    walked = threading.Event()

    def walk() -> None:
        try:
            for to in (S.PICKED_UP, S.AT_DROPOFF, S.DELIVERED):
                time.sleep(0.3)
                move(job, to)
        finally:
            connection.close()  # this thread's own connection
            walked.set()

    walker = threading.Thread(target=walk)
    walker.start()
    sent = 0
    while not walked.is_set() or sent < 40:
        body = courier_fix(52.5101, 13.3901 + sent * 0.000001)
        await socket.send_json_to({"type": "location", **body})
        sent += 1
        await asyncio.sleep(0.06)  # under the socket's rate limit (WS_RATE_PER_SECOND)
    walker.join()
    frames: list[dict] = []
    while not await tracker.receive_nothing(timeout=0.5):
        frames.append(await tracker.receive_json_from(timeout=5))

    kinds = [f["status"] if f["type"] == "status" else f["type"] for f in frames]
    picked_up, delivered = kinds.index("picked_up"), kinds.index("delivered")
    positions = [i for i, kind in enumerate(kinds) if kind == "courier_location"]
    assert positions, kinds  # some fixes fell inside the window
    assert picked_up < min(positions)
    assert max(positions) < delivered
    await socket.disconnect()
    await tracker.disconnect()
