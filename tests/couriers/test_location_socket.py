"""Locations over the courier socket: single and batched fixes, bad frames, shifts, tracking."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from couriers import consumers
from couriers.ingest import location_buffer
from couriers.models import Courier, CourierStatus, LocationPing
from couriers.services import courier_set_availability, couriers_mark_stale_offline
from jobs.lifecycle import job_transition
from jobs.models import Job, JobStatus
from marketplace.asgi import application
from marketplace.realtime.groups import courier_group, job_group
from tests.couriers.conftest import fix, online_courier
from tests.factories import CourierFactory, JobFactory

pytestmark = pytest.mark.django_db(transaction=True)


async def connect(courier: Courier) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        application, f"/ws/courier/?token={courier.user.auth_token.key}"
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
    return communicator


async def settle(communicator: WebsocketCommunicator) -> None:
    """Frames are handled in order: once a pong is back, everything before it was handled."""
    await communicator.send_json_to({"type": "ping", "id": "settle"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "pong", "id": "settle"}


async def stored(communicator: WebsocketCommunicator) -> list[LocationPing]:
    await settle(communicator)
    await database_sync_to_async(location_buffer.flush)()
    return await database_sync_to_async(
        lambda: list(LocationPing.objects.order_by("recorded_at"))
    )()


@database_sync_to_async
def reload(courier: Courier) -> Courier:
    return Courier.objects.get(pk=courier.pk)


async def test_a_location_frame_is_stored_without_a_reply() -> None:
    courier = await database_sync_to_async(online_courier)()
    communicator = await connect(courier)

    await communicator.send_json_to({"type": "location", **fix(52.5301, 13.4101, accuracy_m=4)})

    pings = await stored(communicator)
    assert [(p.point.y, p.point.x, p.accuracy_m, p.flag) for p in pings] == [
        (52.5301, 13.4101, 4.0, "")
    ]
    fresh = await reload(courier)
    assert (fresh.current_point.y, fresh.current_point.x) == (52.5301, 13.4101)
    assert fresh.is_position_trusted is True
    await communicator.disconnect()


async def test_a_batch_stores_its_good_items_and_names_the_bad_ones() -> None:
    courier = await database_sync_to_async(online_courier)()
    communicator = await connect(courier)
    items = [fix(ago=3), fix(lat="52.5", ago=2), fix(ago=1, lng=13.406)]

    await communicator.send_json_to({"type": "locations", "items": items})
    error = await communicator.receive_json_from(timeout=5)

    assert error["type"] == "error"
    assert error["code"] == "invalid_location"
    assert error["fields"] == {"items": {"1": {"lat": ["A number is required."]}}}
    assert len(await stored(communicator)) == 2
    assert (await reload(courier)).current_point.x == 13.406
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ('"lat": 90.5, "lng": 13.4', "lat"),
        ('"lat": 52.5, "lng": "13.4"', "lng"),
        ('"lat": 52.5, "lng": true', "lng"),
        ('"lat": 52.5, "lng": 13.4, "recorded_at": "2026-01-01"', "recorded_at"),
        ('"lat": 52.5, "lng": 13.4, "heading": 361', "heading"),
        ('"lat": 52.5, "lng": 13.4, "speed_mps": -2', "speed_mps"),
        ('"lat": 52.5, "lng": 13.4, "accuracy_m": 0', "accuracy_m"),
    ],
)
async def test_a_bad_location_gets_an_error_naming_the_field_and_the_socket_stays_open(
    fields: str, field: str
) -> None:
    courier = await database_sync_to_async(online_courier)()
    communicator = await connect(courier)
    if "recorded_at" not in fields:
        fields += f', "recorded_at": "{timezone.now().isoformat()}"'
    text = '{"type": "location", ' + fields + "}"

    await communicator.send_to(text_data=text)
    error = await communicator.receive_json_from(timeout=5)

    assert (error["type"], error["code"], list(error["fields"])) == (
        "error",
        "invalid_location",
        [field],
    )
    assert await stored(communicator) == []  # and settle() proved the socket still answers
    await communicator.disconnect()


@pytest.mark.parametrize("items", [None, [], "abc", [{}] * 101])
async def test_a_batch_must_be_a_list_of_1_to_100(items: Any) -> None:
    courier = await database_sync_to_async(online_courier)()
    communicator = await connect(courier)

    await communicator.send_json_to({"type": "locations", "items": items})
    error = await communicator.receive_json_from(timeout=5)

    assert error["code"] == "invalid_location"
    assert list(error["fields"]) == ["items"]
    assert await stored(communicator) == []
    await communicator.disconnect()


async def test_an_offline_courier_is_refused_and_nothing_is_collected() -> None:
    courier = await database_sync_to_async(CourierFactory)(status=CourierStatus.OFFLINE)
    communicator = await connect(courier)

    await communicator.send_json_to({"type": "location", **fix()})

    assert (await communicator.receive_json_from(timeout=5))["code"] == "courier_offline"
    assert await stored(communicator) == []
    await communicator.disconnect()


async def test_going_offline_stops_collection_on_an_open_socket() -> None:
    courier = await database_sync_to_async(online_courier)()
    communicator = await connect(courier)

    await database_sync_to_async(courier_set_availability)(courier=courier, online=False)
    told = await communicator.receive_json_from(timeout=5)
    await communicator.send_json_to({"type": "location", **fix()})

    assert told == {"type": "availability", "courier_id": courier.pk, "status": "offline"}
    assert (await communicator.receive_json_from(timeout=5))["code"] == "courier_offline"
    assert await stored(communicator) == []
    await communicator.disconnect()


async def test_the_stale_task_tells_the_socket_and_its_pings_are_refused() -> None:
    courier = await database_sync_to_async(online_courier)(
        last_seen_at=timezone.now() - timedelta(minutes=5)
    )
    communicator = await connect(courier)

    assert await database_sync_to_async(couriers_mark_stale_offline)() == [courier.pk]
    told = await communicator.receive_json_from(timeout=5)
    await communicator.send_json_to({"type": "location", **fix()})

    assert told["status"] == "offline"
    assert (await communicator.receive_json_from(timeout=5))["code"] == "courier_offline"
    assert (await reload(courier)).status == CourierStatus.OFFLINE
    await communicator.disconnect()


async def listen(group: str) -> tuple[Any, str]:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return layer, channel


async def test_pings_reach_the_active_jobs_trackers_at_most_once_per_interval(settings) -> None:
    settings.TRACKING_BROADCAST_INTERVAL_SECONDS = 60
    courier = await database_sync_to_async(online_courier)(status=CourierStatus.BUSY)
    job = await database_sync_to_async(JobFactory)(courier=courier, status=JobStatus.PICKED_UP)
    layer, channel = await listen(job_group(job.pk))
    communicator = await connect(courier)
    first = fix(52.51, 13.39, ago=2, heading=180, speed_mps=5)

    await communicator.send_json_to({"type": "location", **first})
    await communicator.send_json_to({"type": "location", **fix(52.511, 13.39, ago=1)})
    message = await asyncio.wait_for(layer.receive(channel), timeout=5)

    assert message["payload"] == {
        "type": "courier_location",
        "job_id": str(job.pk),
        "lat": 52.51,
        "lng": 13.39,
        "heading": 180,
        "speed_mps": 5,
        "recorded_at": first["recorded_at"],
    }
    await settle(communicator)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), timeout=0.5)
    assert len(await stored(communicator)) == 2  # throttled for trackers, stored all the same
    await communicator.disconnect()


async def test_an_assignment_during_the_shift_starts_tracking_without_reconnecting() -> None:
    courier = await database_sync_to_async(online_courier)()
    job = await database_sync_to_async(JobFactory)()
    layer, channel = await listen(job_group(job.pk))
    communicator = await connect(courier)

    @database_sync_to_async
    def assign() -> None:
        job_transition(
            job=Job.objects.get(pk=job.pk), to=JobStatus.ASSIGNED, courier=courier, actor=None
        )

    await assign()
    update = await communicator.receive_json_from(timeout=5)
    assert (update["type"], update["status"]) == ("job_update", "assigned")
    await asyncio.wait_for(layer.receive(channel), timeout=5)  # the tracker's job_update too

    await communicator.send_json_to({"type": "location", **fix(52.52, 13.4)})
    message = await asyncio.wait_for(layer.receive(channel), timeout=5)

    assert message["payload"]["type"] == "courier_location"
    assert message["payload"]["job_id"] == str(job.pk)
    await communicator.disconnect()


async def test_implausible_fixes_are_stored_but_never_shown_to_trackers() -> None:
    courier = await database_sync_to_async(online_courier)(
        status=CourierStatus.BUSY, position_recorded_at=None
    )
    job = await database_sync_to_async(JobFactory)(courier=courier, status=JobStatus.ASSIGNED)
    layer, channel = await listen(job_group(job.pk))
    communicator = await connect(courier)

    await communicator.send_json_to(
        {"type": "locations", "items": [fix(52.52, 13.4, ago=10), fix(52.62, 13.4, ago=9)]}
    )
    message = await asyncio.wait_for(layer.receive(channel), timeout=5)

    assert message["payload"]["lat"] == 52.52  # the jump 11 km north was held back
    assert [p.flag for p in await stored(communicator)] == ["", "implausible_speed"]
    await communicator.disconnect()


async def test_a_job_that_ends_stops_tracking_and_frees_the_courier_without_reconnecting(
    settings,
) -> None:
    settings.TRACKING_BROADCAST_INTERVAL_SECONDS = 0
    courier = await database_sync_to_async(online_courier)(status=CourierStatus.BUSY)
    job = await database_sync_to_async(JobFactory)(courier=courier, status=JobStatus.ASSIGNED)
    layer, channel = await listen(job_group(job.pk))
    communicator = await connect(courier)

    await communicator.send_json_to({"type": "location", **fix(52.52, 13.4, ago=2)})
    assert (await asyncio.wait_for(layer.receive(channel), timeout=5))["payload"]["lat"] == 52.52
    await database_sync_to_async(job_transition)(job=job.pk, to=JobStatus.CANCELLED, actor=None)
    update = await communicator.receive_json_from(timeout=5)
    assert (update["type"], update["status"]) == ("job_update", "cancelled")
    assert (await asyncio.wait_for(layer.receive(channel), timeout=5))["payload"]["type"] == (
        "job_update"
    )

    await communicator.send_json_to({"type": "location", **fix(52.53, 13.4, ago=1)})
    await settle(communicator)  # the frame was handled: a broadcast would be queued by now
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), timeout=0.5)
    assert (await reload(courier)).status == CourierStatus.AVAILABLE
    assert len(await stored(communicator)) == 2  # still collected: the courier is online
    await communicator.disconnect()


async def test_a_late_release_of_an_earlier_job_does_not_stop_tracking_the_current_one(
    settings,
) -> None:
    settings.TRACKING_BROADCAST_INTERVAL_SECONDS = 0
    courier = await database_sync_to_async(online_courier)(status=CourierStatus.BUSY)
    job = await database_sync_to_async(JobFactory)(courier=courier, status=JobStatus.PICKED_UP)
    layer, channel = await listen(job_group(job.pk))
    communicator = await connect(courier)

    earlier = "00000000-0000-4000-8000-000000000001"
    await layer.group_send(
        courier_group(courier.pk),
        {"type": "courier.job", "job_id": earlier, "holds": False, "status": "available"},
    )
    await settle(communicator)  # the event came before the pong; nothing was sent for it
    await communicator.send_json_to({"type": "location", **fix(52.52, 13.4)})

    message = await asyncio.wait_for(layer.receive(channel), timeout=5)
    assert message["payload"]["job_id"] == str(job.pk)
    await communicator.disconnect()


async def test_pings_and_job_changes_never_reread_the_couriers_state(monkeypatch) -> None:
    """The socket reads the courier's state once at connect; later it learns from messages."""
    reads: list[int] = []
    real_read = consumers.courier_live_state

    def counting_read(**kwargs: Any) -> Any:
        reads.append(kwargs["courier_pk"])
        return real_read(**kwargs)

    monkeypatch.setattr(consumers, "courier_live_state", counting_read)
    courier = await database_sync_to_async(online_courier)()
    job = await database_sync_to_async(JobFactory)()
    layer, channel = await listen(job_group(job.pk))
    communicator = await connect(courier)

    for ago in (5, 4, 3):
        await communicator.send_json_to({"type": "location", **fix(52.52, 13.4, ago=ago)})
    await database_sync_to_async(job_transition)(
        job=job.pk, to=JobStatus.ASSIGNED, courier=courier, actor=None
    )
    assert (await communicator.receive_json_from(timeout=5))["status"] == "assigned"
    await asyncio.wait_for(layer.receive(channel), timeout=5)  # the tracker's job_update
    await communicator.send_json_to({"type": "location", **fix(52.5201, 13.4, ago=1)})
    message = await asyncio.wait_for(layer.receive(channel), timeout=5)

    assert message["payload"]["type"] == "courier_location"
    assert reads == [courier.pk]
    assert len(await stored(communicator)) == 4
    await communicator.disconnect()
