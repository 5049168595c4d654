"""REST positions reach the active job's trackers, throttled like the socket's."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from couriers.models import Courier, CourierStatus
from jobs.models import JobStatus
from marketplace.realtime.groups import job_group
from tests.conftest import client_for
from tests.couriers.conftest import fix, online_courier
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db(transaction=True)

LOCATION = "/api/v1/courier/location/"


async def listen(group: str) -> tuple[Any, str]:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return layer, channel


@database_sync_to_async
def post_location(courier: Courier, body: Any) -> tuple[int, Any]:
    response = client_for(courier.user).post(LOCATION, body, format="json")
    return response.status_code, response.json()


async def test_a_rest_position_reaches_the_trackers_once_per_interval(settings) -> None:
    settings.TRACKING_BROADCAST_INTERVAL_SECONDS = 60
    courier = await database_sync_to_async(online_courier)(status=CourierStatus.BUSY)
    job = await database_sync_to_async(JobFactory)(courier=courier, status=JobStatus.PICKED_UP)
    layer, channel = await listen(job_group(job.pk))
    first = fix(52.51, 13.39, ago=2, heading=90, speed_mps=3)

    assert (await post_location(courier, first))[0] == 201
    message = await asyncio.wait_for(layer.receive(channel), timeout=5)

    assert message["payload"] == {
        "type": "courier_location",
        "job_id": str(job.pk),
        "lat": 52.51,
        "lng": 13.39,
        "heading": 90,
        "speed_mps": 3,
        "recorded_at": first["recorded_at"],
    }
    # Within the interval: stored, not sent to trackers again.
    assert (await post_location(courier, fix(52.5101, 13.39, ago=1)))[1]["stored"] == 1
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), timeout=0.5)


async def test_a_batch_sends_only_its_newest_position(settings) -> None:
    settings.TRACKING_BROADCAST_INTERVAL_SECONDS = 60
    courier = await database_sync_to_async(online_courier)(status=CourierStatus.BUSY)
    job = await database_sync_to_async(JobFactory)(courier=courier, status=JobStatus.ASSIGNED)
    layer, channel = await listen(job_group(job.pk))
    # Out of order on purpose, and ~11 m a second apart: plausible for a bike.
    items = [fix(52.5, 13.39, ago=3), fix(52.5002, 13.39, ago=1), fix(52.5001, 13.39, ago=2)]

    status, body = await post_location(courier, items)
    message = await asyncio.wait_for(layer.receive(channel), timeout=5)

    assert (status, body["stored"]) == (201, 3)
    assert (message["payload"]["lat"], message["payload"]["recorded_at"]) == (
        52.5002,
        items[1]["recorded_at"],
    )


async def test_a_courier_without_an_active_job_broadcasts_nothing(settings) -> None:
    courier = await database_sync_to_async(online_courier)()
    other_job = await database_sync_to_async(JobFactory)(status=JobStatus.PENDING)
    layer, channel = await listen(job_group(other_job.pk))

    assert (await post_location(courier, fix(52.51, 13.39)))[0] == 201

    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), timeout=0.5)
