"""Scale-out, end to end: two uvicorn processes on one database and Redis serve one job.

A courier streams positions over a socket on process A and steps the job over A's REST
API; a recipient's tracking socket and the shop's socket on process B receive every frame
they should (status, ETA, positions inside their windows), and the tracking throttle holds
across the processes: pings sent through A and B in one interval give one position.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.gis.geos import Point
from django.utils import timezone
from websockets.asyncio.client import ClientConnection, connect

from couriers.models import Courier, CourierStatus
from jobs.models import Job, JobStatus
from jobs.tracking.privacy import round_to_grid
from jobs.tracking.tokens import job_tracking_token
from tests.e2e_server import ServerInfo, running_server
from tests.factories import JobFactory, ShopUserFactory, UserFactory

pytestmark = pytest.mark.e2e

TIMEOUT_SECONDS = 10
# Long enough that both pings of a phase surely fall in one interval; the test opens a
# new interval itself by deleting the throttle key between phases.
INTERVAL_SECONDS = 60


@pytest.fixture(scope="module")
def two_servers(django_db_setup: None) -> Iterator[tuple[ServerInfo, ServerInfo]]:
    env = {"TRACKING_BROADCAST_INTERVAL_SECONDS": str(INTERVAL_SECONDS)}
    database = settings.DATABASES["default"]
    with (
        running_server(database=database, max_body_bytes=1 << 20, extra_env=env) as a,
        running_server(database=database, max_body_bytes=1 << 20, extra_env=env) as b,
    ):
        yield a, b


def open_throttle(job_pk: object) -> None:
    """Start a new tracking interval for the job (as if the last one had run out)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(f"{settings.REDIS_KEY_PREFIX}:track-throttle:{job_pk}")


def position(lat: float, lng: float, ago: float = 0.5) -> dict[str, Any]:
    recorded_at = timezone.now() - timedelta(seconds=ago)
    return {"lat": lat, "lng": lng, "recorded_at": recorded_at.isoformat(), "heading": 45}


async def frames_until(
    socket: ClientConnection, done: Callable[[dict], bool]
) -> list[dict[str, Any]]:
    """Frames received until (and including) the first one ``done`` accepts."""
    received = []
    async with asyncio.timeout(TIMEOUT_SECONDS):
        while True:
            frame = json.loads(await socket.recv())
            received.append(frame)
            if done(frame):
                return received


async def nothing_more(socket: ClientConnection, seconds: float = 1.0) -> list[dict]:
    extra = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                extra.append(json.loads(await socket.recv()))
    except TimeoutError:
        return extra


def rest(server: ServerInfo, method: str, path: str, key: str, body: Any = None) -> Any:
    import urllib.request

    request = urllib.request.Request(
        server.http_url + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else b"{}",
        headers={"Authorization": f"Token {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        return response.status, json.loads(response.read() or b"null")


def make_world() -> tuple[Job, str, str, str, str]:
    shop_user = ShopUserFactory()
    courier = Courier.objects.create(
        user=UserFactory(first_name="Sam", last_name="Rider"),
        vehicle="bike",
        capacity="small",
        status=CourierStatus.AVAILABLE,
        current_point=Point(13.40, 52.515, srid=4326),
        position_recorded_at=timezone.now() - timedelta(seconds=5),
        is_position_trusted=True,
        last_seen_at=timezone.now(),
    )
    job = JobFactory(shop=shop_user.shop, status=JobStatus.ASSIGNED, courier=courier)
    Courier.objects.filter(pk=courier.pk).update(status=CourierStatus.BUSY)
    return (
        job,
        job_tracking_token(job),
        shop_user.auth_token.key,
        courier.user.auth_token.key,
        str(job.pk),
    )


@pytest.mark.django_db(transaction=True)
async def test_two_processes_serve_one_job_and_share_the_throttle(
    two_servers: tuple[ServerInfo, ServerInfo],
) -> None:
    a, b = two_servers
    _job, token, shop_key, courier_key, job_id = await database_sync_to_async(make_world)()
    courier_url = f"{a.ws_url}/ws/courier/"
    steps = f"/api/v1/courier/jobs/{job_id}/"

    async with (
        connect(f"{b.ws_url}/ws/track/{token}/", open_timeout=TIMEOUT_SECONDS) as tracker,
        connect(
            f"{b.ws_url}/ws/shop/",
            additional_headers={"Authorization": f"Token {shop_key}"},
            open_timeout=TIMEOUT_SECONDS,
        ) as shop,
        connect(
            courier_url,
            additional_headers={"Authorization": f"Token {courier_key}"},
            open_timeout=TIMEOUT_SECONDS,
        ) as courier,
    ):
        snapshot = json.loads(await tracker.recv())
        assert (snapshot["type"], snapshot["status"]) == ("snapshot", "assigned")
        assert snapshot["courier"] == {"name": "Sam R.", "vehicle": "bike"}
        shop_snapshot = json.loads(await shop.recv())
        assert [j["job_id"] for j in shop_snapshot["jobs"]] == [job_id]
        assert json.loads(await courier.recv())["type"] == "hello"

        # Before pickup: the shop sees the exact position, the recipient only an ETA.
        await sync_to_async(open_throttle)(job_id)
        await courier.send(json.dumps({"type": "location", **position(52.5151, 13.4002)}))
        exact = await frames_until(shop, lambda f: f["type"] == "courier_location")
        assert (exact[-1]["lat"], exact[-1]["lng"], exact[-1]["job_id"]) == (
            52.5151,
            13.4002,
            job_id,
        )
        before_pickup = await frames_until(tracker, lambda f: f["type"] == "eta")
        assert [f["type"] for f in before_pickup] == ["eta"]
        assert before_pickup[0]["eta"]["source"] == "straight_line"

        # Steps over process A reach both sockets on process B.
        for step, status in (("arrive-pickup", "at_pickup"), ("pickup", "picked_up")):
            code, _ = await sync_to_async(rest)(a, "POST", steps + step + "/", courier_key)
            assert code == 200
            status_frame = await frames_until(tracker, lambda f: f["type"] == "status")
            assert status_frame[-1]["status"] == status
            envelope = await frames_until(shop, lambda f: f["type"].startswith("job."))
            assert (envelope[-1]["type"], envelope[-1]["data"]["status"]) == (
                f"job.{status}",
                status,
            )

        # After pickup, in one interval: a ping through A's socket and one through B's
        # REST API give the trackers exactly one position, not one per process.
        await sync_to_async(open_throttle)(job_id)
        await courier.send(json.dumps({"type": "location", **position(52.5149, 13.3998)}))
        code, _ = await sync_to_async(rest)(
            b, "POST", "/api/v1/courier/location/", courier_key, position(52.5148, 13.3996, 0.2)
        )
        assert code == 201
        seen = await frames_until(tracker, lambda f: f["type"] == "eta")
        seen += await nothing_more(tracker)
        locations = [f for f in seen if f["type"] == "courier_location"]
        assert len(locations) == 1
        assert (locations[0]["lat"], locations[0]["lng"]) in {
            round_to_grid(52.5149, 13.3998),
            round_to_grid(52.5148, 13.3996),
        }
        assert set(locations[0]) == {"type", "lat", "lng", "heading", "recorded_at"}
        shop_seen = await frames_until(shop, lambda f: f["type"] == "courier_location")
        shop_seen += await nothing_more(shop)
        assert len([f for f in shop_seen if f["type"] == "courier_location"]) == 1

        code, _ = await sync_to_async(rest)(a, "POST", steps + "arrive-dropoff/", courier_key)
        assert code == 200
        arriving = await frames_until(tracker, lambda f: f["type"] == "status")
        assert arriving[-1]["status"] == "at_dropoff"
        assert [s["step"] for s in arriving[-1]["timeline"]][-1] == "arriving"
