"""The recipient's socket /ws/track/{token}/ and the shop's socket /ws/shop/: snapshots,
status/eta/position frames under the privacy rules, expiry and rotation, envelopes,
resume from an event id, and never another shop's frames."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from rest_framework.test import APIClient

from couriers.models import CourierStatus
from jobs.lifecycle import job_transition
from jobs.models import Job, JobEvent, JobStatus
from jobs.tracking.privacy import round_to_grid
from jobs.tracking.publish import tracking_position_publish
from jobs.tracking.tokens import job_tracking_rotate
from marketplace.asgi import application
from tests.couriers.conftest import fix as courier_fix
from tests.couriers.conftest import online_courier
from tests.factories import CourierFactory, JobFactory, ShopUserFactory
from tests.jobs.tracking_helpers import fix, track_url, tracked_job

pytestmark = pytest.mark.django_db(transaction=True)
S = JobStatus


async def open_tracking(token: str) -> tuple[WebsocketCommunicator, dict]:
    communicator = WebsocketCommunicator(application, f"/ws/track/{token}/")
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator, await communicator.receive_json_from(timeout=5)


async def open_shop(user: Any) -> tuple[WebsocketCommunicator, dict]:
    communicator = WebsocketCommunicator(
        application,
        "/ws/shop/",
        headers=[(b"authorization", f"Token {user.auth_token.key}".encode())],
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator, await communicator.receive_json_from(timeout=5)


async def closed_with(communicator: WebsocketCommunicator) -> int:
    output = await communicator.receive_output(timeout=5)
    assert output["type"] == "websocket.close"
    return output["code"]


async def nothing_more(communicator: WebsocketCommunicator) -> None:
    assert await communicator.receive_nothing(timeout=0.5)


@database_sync_to_async
def move(job: Job, to: JobStatus, **kwargs: Any) -> None:
    job_transition(job=Job.objects.get(pk=job.pk), to=to, actor=None, **kwargs)


async def test_the_snapshot_equals_the_json_endpoint() -> None:
    job, token = await database_sync_to_async(tracked_job)(S.PICKED_UP)
    await database_sync_to_async(fix)(job, lat=52.512, lng=13.398)

    communicator, snapshot = await open_tracking(token)
    body = (await sync_to_async(APIClient().get)(track_url(token))).json()

    assert snapshot["type"] == "snapshot"
    del snapshot["type"]
    # The ETA's updated_at is the moment each was computed; the rest is identical.
    assert {**snapshot, "eta": None} == {**body, "eta": None}
    assert snapshot["eta"]["source"] == body["eta"]["source"]
    assert snapshot["courier_location"]["lat"] == round_to_grid(52.512, 13.398)[0]
    await communicator.disconnect()


@pytest.mark.parametrize("token", ["unknown-token", "x" * 32])
async def test_an_unknown_link_closes_4404(token: str) -> None:
    communicator = WebsocketCommunicator(application, f"/ws/track/{token}/")
    await communicator.connect(timeout=5)

    assert await closed_with(communicator) == 4404


async def test_an_expired_link_closes_4404() -> None:
    _, token = await database_sync_to_async(tracked_job)(
        S.DELIVERED, ended_at=timezone.now() - timedelta(hours=25)
    )
    communicator = WebsocketCommunicator(application, f"/ws/track/{token}/")
    await communicator.connect(timeout=5)

    assert await closed_with(communicator) == 4404


async def test_too_many_connects_close_4429(settings) -> None:
    settings.TRACKING_RATE_PER_TOKEN = "1/min"
    _, token = await database_sync_to_async(tracked_job)()
    first, _ = await open_tracking(token)

    second = WebsocketCommunicator(application, f"/ws/track/{token}/")
    await second.connect(timeout=5)

    assert await closed_with(second) == 4429
    await first.disconnect()


async def test_a_status_change_sends_the_whole_view_again() -> None:
    job, token = await database_sync_to_async(tracked_job)(S.AT_DROPOFF)
    communicator, _ = await open_tracking(token)

    await move(job, S.DELIVERED)
    frame = await communicator.receive_json_from(timeout=5)

    assert frame["type"] == "status"
    assert frame["status"] == "delivered"
    assert [s["step"] for s in frame["timeline"]] == ["delivered"]
    assert frame["courier"] is None
    assert frame["eta"] is None
    assert frame["expires_at"] is not None
    await communicator.disconnect()


async def test_positions_reach_the_recipient_rounded_only_after_pickup_and_the_shop_exactly() -> (
    None
):
    shop_user = await database_sync_to_async(ShopUserFactory)()
    job, token = await database_sync_to_async(tracked_job)(S.ASSIGNED, shop=shop_user.shop)
    tracker, _ = await open_tracking(token)
    shop, _ = await open_shop(shop_user)
    now = timezone.now()

    publish = database_sync_to_async(tracking_position_publish)
    await publish(
        job_pk=job.pk,
        lat=52.51234,
        lng=13.39876,
        heading=93.0,
        speed_mps=4.0,
        recorded_at=now,
        is_trusted=True,
    )
    before_pickup = await tracker.receive_json_from(timeout=5)
    exact = await shop.receive_json_from(timeout=5)

    assert before_pickup["type"] == "eta"  # no position before pickup
    assert before_pickup["eta"]["source"] == "straight_line"
    assert exact == {
        "type": "courier_location",
        "job_id": str(job.pk),
        "lat": 52.51234,
        "lng": 13.39876,
        "heading": 93.0,
        "speed_mps": 4.0,
        "recorded_at": now.isoformat(),
    }
    await nothing_more(tracker)

    await move(job, S.AT_PICKUP)
    await move(job, S.PICKED_UP)
    for _ in range(2):
        assert (await tracker.receive_json_from(timeout=5))["type"] == "status"
    await publish(
        job_pk=job.pk,
        lat=52.51234,
        lng=13.39876,
        heading=93.0,
        speed_mps=4.0,
        recorded_at=now,
        is_trusted=True,
    )
    location = await tracker.receive_json_from(timeout=5)
    eta = await tracker.receive_json_from(timeout=5)

    lat, lng = round_to_grid(52.51234, 13.39876)
    assert location == {
        "type": "courier_location",
        "lat": lat,
        "lng": lng,
        "heading": 90,
        "recorded_at": now.isoformat(),
    }
    assert eta["type"] == "eta"
    assert eta["warnings"] == []
    await tracker.disconnect()
    await shop.disconnect()


async def test_a_stale_fix_is_not_shown_and_the_eta_warns() -> None:
    job, token = await database_sync_to_async(tracked_job)(S.PICKED_UP)
    tracker, _ = await open_tracking(token)

    await database_sync_to_async(tracking_position_publish)(
        job_pk=job.pk,
        lat=52.51,
        lng=13.39,
        heading=None,
        speed_mps=None,
        recorded_at=timezone.now() - timedelta(seconds=120),
        is_trusted=True,
    )
    frame = await tracker.receive_json_from(timeout=5)

    assert frame["type"] == "eta"
    assert frame["eta"]["confidence"] == "low"
    assert frame["warnings"] == ["stale_location"]
    await nothing_more(tracker)
    await tracker.disconnect()


async def test_rotating_the_link_closes_sockets_on_the_old_one() -> None:
    shop_user = await database_sync_to_async(ShopUserFactory)()
    job, token = await database_sync_to_async(tracked_job)(shop=shop_user.shop)
    tracker, _ = await open_tracking(token)

    _, new_token = await database_sync_to_async(job_tracking_rotate)(job=job, actor=shop_user)

    assert await tracker.receive_json_from(timeout=5) == {"type": "closed", "reason": "revoked"}
    assert await closed_with(tracker) == 4410
    fresh, snapshot = await open_tracking(new_token)
    assert snapshot["type"] == "snapshot"
    await fresh.disconnect()


async def test_the_socket_closes_4410_when_the_link_expires(settings) -> None:
    settings.TRACKING_LINK_TTL_HOURS = 1
    ended_at = timezone.now() - timedelta(hours=1) + timedelta(seconds=1)
    _, token = await database_sync_to_async(tracked_job)(S.DELIVERED, ended_at=ended_at)
    tracker, snapshot = await open_tracking(token)

    assert snapshot["status"] == "delivered"
    assert await tracker.receive_json_from(timeout=5) == {"type": "closed", "reason": "expired"}
    assert await closed_with(tracker) == 4410


async def test_a_courier_ping_reaches_the_tracker_through_the_courier_socket(settings) -> None:
    settings.TRACKING_BROADCAST_INTERVAL_SECONDS = 60
    courier = await database_sync_to_async(online_courier)(status=CourierStatus.BUSY)
    job = await database_sync_to_async(JobFactory)(courier=courier, status=S.PICKED_UP)
    from jobs.tracking.tokens import job_tracking_token

    tracker, _ = await open_tracking(job_tracking_token(job))
    socket = WebsocketCommunicator(application, f"/ws/courier/?token={courier.user.auth_token.key}")
    await socket.connect(timeout=5)
    assert (await socket.receive_json_from(timeout=5))["type"] == "hello"
    sent = courier_fix(52.5101, 13.3901, ago=1, heading=180)

    await socket.send_json_to({"type": "location", **sent})
    location = await tracker.receive_json_from(timeout=5)

    lat, lng = round_to_grid(52.5101, 13.3901)
    assert location == {
        "type": "courier_location",
        "lat": lat,
        "lng": lng,
        "heading": 180,
        "recorded_at": sent["recorded_at"],
    }
    assert (await tracker.receive_json_from(timeout=5))["type"] == "eta"
    await socket.disconnect()
    await tracker.disconnect()


async def test_the_shop_socket_needs_a_shop_token() -> None:
    anonymous = WebsocketCommunicator(application, "/ws/shop/")
    await anonymous.connect(timeout=5)
    assert await closed_with(anonymous) == 4401

    courier = await database_sync_to_async(CourierFactory)()
    wrong = WebsocketCommunicator(application, f"/ws/shop/?token={courier.user.auth_token.key}")
    await wrong.connect(timeout=5)
    assert await closed_with(wrong) == 4403


async def test_the_shop_snapshot_lists_its_active_jobs_only() -> None:
    shop_user = await database_sync_to_async(ShopUserFactory)()
    active = await database_sync_to_async(JobFactory)(shop=shop_user.shop, status=S.PENDING)
    await database_sync_to_async(JobFactory)(shop=shop_user.shop, status=S.CANCELLED)
    await database_sync_to_async(JobFactory)(status=S.PENDING)  # another shop's

    shop, snapshot = await open_shop(shop_user)

    assert snapshot["type"] == "snapshot"
    assert [j["job_id"] for j in snapshot["jobs"]] == [str(active.pk)]
    assert snapshot["jobs"][0]["courier_location"] is None
    assert snapshot["last_event_id"] == 0
    await shop.disconnect()


async def test_events_arrive_in_the_envelope_and_never_at_another_shop() -> None:
    mine = await database_sync_to_async(ShopUserFactory)()
    other = await database_sync_to_async(ShopUserFactory)()
    job = await database_sync_to_async(JobFactory)(shop=mine.shop, status=S.PENDING)
    my_socket, _ = await open_shop(mine)
    other_socket, _ = await open_shop(other)

    await move(job, S.CANCELLED, reason="no longer needed")
    envelope = await my_socket.receive_json_from(timeout=5)

    event = await database_sync_to_async(JobEvent.objects.get)(job=job)
    assert envelope == {
        "id": event.pk,
        "type": "job.cancelled",
        "created_at": event.created_at.isoformat(),
        "data": {
            "job_id": str(job.pk),
            "external_ref": "",
            "seq": 1,
            "event_id": event.pk,
            "kind": "status",
            "actor": "system",
            "from_status": "pending",
            "status": "cancelled",
            "courier_id": None,
            "reason": "no longer needed",
            "details": {},
        },
    }
    await nothing_more(other_socket)
    await my_socket.disconnect()
    await other_socket.disconnect()


async def test_resume_replays_the_missed_events_in_order_without_duplicates() -> None:
    shop_user = await database_sync_to_async(ShopUserFactory)()
    courier = await database_sync_to_async(CourierFactory)(status=CourierStatus.AVAILABLE)
    job = await database_sync_to_async(JobFactory)(shop=shop_user.shop, status=S.PENDING)
    await move(job, S.ASSIGNED, courier=courier)
    first_id = await database_sync_to_async(lambda: JobEvent.objects.get(job=job, seq=1).pk)()
    await move(job, S.AT_PICKUP)
    await move(job, S.PICKED_UP)
    shop, snapshot = await open_shop(shop_user)
    assert snapshot["last_event_id"] > first_id

    await shop.send_json_to({"type": "resume", "after": first_id})
    replayed = [await shop.receive_json_from(timeout=5) for _ in range(2)]
    done = await shop.receive_json_from(timeout=5)

    assert [(e["type"], e["data"]["seq"]) for e in replayed] == [
        ("job.at_pickup", 2),
        ("job.picked_up", 3),
    ]
    assert replayed[0]["id"] < replayed[1]["id"]
    assert done == {"type": "resumed", "after": first_id, "count": 2, "more": False}
    # Live frames go on after the replay.
    await move(job, S.AT_DROPOFF)
    live = await shop.receive_json_from(timeout=5)
    assert (live["type"], live["data"]["seq"]) == ("job.at_dropoff", 4)
    await nothing_more(shop)
    await shop.disconnect()


async def test_an_event_committed_during_the_replay_is_sent_once() -> None:
    shop_user = await database_sync_to_async(ShopUserFactory)()
    job = await database_sync_to_async(JobFactory)(shop=shop_user.shop, status=S.PENDING)
    shop, _ = await open_shop(shop_user)

    # The event is live on the group and in the database when the replay reads it.
    await move(job, S.CANCELLED)
    await shop.send_json_to({"type": "resume", "after": 0})
    frames = []
    while True:
        frame = await shop.receive_json_from(timeout=5)
        frames.append(frame["type"])
        if frame["type"] == "resumed":
            break
    await nothing_more(shop)

    assert frames.count("job.cancelled") == 1
    await shop.disconnect()


async def test_a_resume_does_not_repeat_events_this_socket_already_sent_live() -> None:
    shop_user = await database_sync_to_async(ShopUserFactory)()
    job = await database_sync_to_async(JobFactory)(shop=shop_user.shop, status=S.PENDING)
    shop, _ = await open_shop(shop_user)
    await move(job, S.CANCELLED)
    live = await shop.receive_json_from(timeout=5)
    assert live["type"] == "job.cancelled"

    await shop.send_json_to({"type": "resume", "after": 0})
    done = await shop.receive_json_from(timeout=5)

    assert done == {"type": "resumed", "after": 0, "count": 0, "more": False}
    await nothing_more(shop)
    await shop.disconnect()


@pytest.mark.parametrize("after", [-1, "5", None, True, 1.5])
async def test_resume_needs_a_whole_event_id(after: Any) -> None:
    shop_user = await database_sync_to_async(ShopUserFactory)()
    shop, _ = await open_shop(shop_user)

    await shop.send_json_to({"type": "resume", "after": after})
    error = await shop.receive_json_from(timeout=5)

    assert (error["type"], error["code"]) == ("error", "invalid_message")
    assert list(error["fields"]) == ["after"]
    await shop.disconnect()
