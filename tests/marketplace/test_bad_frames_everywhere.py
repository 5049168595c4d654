"""Bad input on every socket and every message type it takes: hostile frames and bad fields
get an ``error`` frame with a code, the socket stays open, and nothing is stored.

The message types come from each consumer's ``handlers``, so a new one fails
``test_every_message_type_has_bad_messages`` until its bad messages are listed here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from couriers.consumers import CourierConsumer
from couriers.models import CourierStatus, LocationPing
from jobs.models import JobEvent, JobStatus
from jobs.tracking.consumers import ShopConsumer, TrackingConsumer
from marketplace.asgi import application
from tests.factories import CourierFactory, ShopUserFactory
from tests.jobs.tracking_helpers import tracked_job
from tests.marketplace.test_socket_frames import strict_json

pytestmark = pytest.mark.django_db(transaction=True)

CONSUMERS = {"courier": CourierConsumer, "shop": ShopConsumer, "track": TrackingConsumer}
NOW = timezone.now().isoformat()

# Frames no socket takes, whatever its messages: (frame, error code).
HOSTILE_FRAMES = [
    ('{"type": "ping",', "invalid_json"),
    ("[" * 33 + "]" * 33, "invalid_json"),
    ('{"type": "ping", "id": ' + "[" * 40 + "]" * 40 + "}", "invalid_json"),
    ('{"type": "ping", "id": NaN}', "invalid_json"),
    ('{"type": "ping", "id": Infinity}', "invalid_json"),
    ('{"type": "ping", "id": 1e400}', "invalid_json"),
    ('{"type": "ping", "id": 9223372036854775808}', "invalid_json"),
    ('{"type": "ping", "id": -' + "9" * 5000 + "}", "invalid_json"),
    ("[]", "invalid_message"),
    ('"ping"', "invalid_message"),
    ("null", "invalid_message"),
    ('{"id": 1}', "invalid_message"),
    ('{"type": 7}', "invalid_message"),
    ('{"type": ["ping"]}', "invalid_message"),
    ('{"type": "no_such_type"}', "unknown_type"),
    ('{"type": "PING"}', "unknown_type"),
]


def _location(**fields: Any) -> dict[str, Any]:
    return {"type": "location", "lat": 52.52, "lng": 13.41, "recorded_at": NOW, **fields}


# Per (socket, message type): bad messages, the error code, and the field the error names
# (None when the message has no fields to blame).
BAD_MESSAGES: dict[tuple[str, str], list[tuple[dict[str, Any], str, str | None]]] = {
    # ping echoes any JSON id: only hostile frames can be wrong.
    ("courier", "ping"): [],
    ("shop", "ping"): [],
    ("track", "ping"): [],
    ("courier", "location"): [
        (_location(lat=90.0001), "invalid_location", "lat"),
        (_location(lat=-91), "invalid_location", "lat"),
        (_location(lng=180.5), "invalid_location", "lng"),
        (_location(lng=-181), "invalid_location", "lng"),
        (_location(lat="52.52"), "invalid_location", "lat"),
        (_location(lng=True), "invalid_location", "lng"),
        (_location(lat=[52.52]), "invalid_location", "lat"),
        (_location(lat=None), "invalid_location", "lat"),
        (_location(heading=361), "invalid_location", "heading"),
        (_location(heading="north"), "invalid_location", "heading"),
        (_location(accuracy_m=0), "invalid_location", "accuracy_m"),
        (_location(speed_mps=-1), "invalid_location", "speed_mps"),
        (_location(speed_mps={"v": 1}), "invalid_location", "speed_mps"),
        (_location(recorded_at=1733200000), "invalid_location", "recorded_at"),
        (_location(recorded_at="yesterday"), "invalid_location", "recorded_at"),
        (_location(recorded_at="2026-01-01T10:00:00"), "invalid_location", "recorded_at"),
        (
            _location(recorded_at=(timezone.now() + timedelta(days=1)).isoformat()),
            "invalid_location",
            "recorded_at",
        ),
    ],
    ("courier", "locations"): [
        ({"type": "locations"}, "invalid_location", "items"),
        ({"type": "locations", "items": []}, "invalid_location", "items"),
        ({"type": "locations", "items": {"lat": 1}}, "invalid_location", "items"),
        ({"type": "locations", "items": "[]"}, "invalid_location", "items"),
        ({"type": "locations", "items": [_location()] * 101}, "invalid_location", "items"),
        ({"type": "locations", "items": [7]}, "invalid_location", "items"),
        ({"type": "locations", "items": [_location(lat=95)]}, "invalid_location", "items"),
        ({"type": "locations", "items": [_location(lng="x")]}, "invalid_location", "items"),
    ],
    ("shop", "resume"): [
        ({"type": "resume"}, "invalid_message", "after"),
        ({"type": "resume", "after": "3"}, "invalid_message", "after"),
        ({"type": "resume", "after": -1}, "invalid_message", "after"),
        ({"type": "resume", "after": 1.5}, "invalid_message", "after"),
        ({"type": "resume", "after": True}, "invalid_message", "after"),
        ({"type": "resume", "after": None}, "invalid_message", "after"),
        ({"type": "resume", "after": [1]}, "invalid_message", "after"),
    ],
}


async def _open(socket: str) -> tuple[WebsocketCommunicator, Callable[[], Awaitable[Any]]]:
    """A connected socket past its greeting, and what it must leave unchanged."""
    if socket == "courier":
        courier = await database_sync_to_async(CourierFactory)(status=CourierStatus.AVAILABLE)
        url, headers = "/ws/courier/", [(b"authorization", _auth(courier.user))]
    elif socket == "shop":
        user = await database_sync_to_async(ShopUserFactory)()
        url, headers = "/ws/shop/", [(b"authorization", _auth(user))]
    else:
        _, token = await database_sync_to_async(tracked_job)(JobStatus.PICKED_UP)
        url, headers = f"/ws/track/{token}/", []
    communicator = WebsocketCommunicator(application, url, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    await communicator.receive_json_from(timeout=5)

    @database_sync_to_async
    def stored() -> Any:
        return (LocationPing.objects.count(), JobEvent.objects.count())

    return communicator, stored


def _auth(user: Any) -> bytes:
    return f"Token {user.auth_token.key}".encode()


async def _reply(communicator: WebsocketCommunicator) -> Any:
    return strict_json(await communicator.receive_from(timeout=5))


async def _still_answers(communicator: WebsocketCommunicator) -> None:
    await communicator.send_json_to({"type": "ping", "id": "still-open"})
    assert await _reply(communicator) == {"type": "pong", "id": "still-open"}


def test_every_message_type_has_bad_messages() -> None:
    declared = {
        (socket, message) for socket, consumer in CONSUMERS.items() for message in consumer.handlers
    }
    assert set(BAD_MESSAGES) == declared


@pytest.mark.parametrize("socket", list(CONSUMERS))
async def test_hostile_frames_get_an_error_and_the_socket_stays_open(
    stripe_standin: Any, socket: str
) -> None:
    communicator, stored = await _open(socket)
    before = await stored()

    for frame, code in HOSTILE_FRAMES:
        await communicator.send_to(text_data=frame)
        reply = await _reply(communicator)
        assert (reply["type"], reply["code"]) == ("error", code), (frame[:80], reply)
        assert set(reply) == {"type", "code", "message", "fields"}
    await communicator.send_to(bytes_data=b'{"type": "ping"}')
    assert (await _reply(communicator))["code"] == "invalid_frame"
    await communicator.send_to(text_data='{"type": "ping", "pad": "' + "x" * 70_000 + '"}')
    assert (await _reply(communicator))["code"] == "frame_too_large"

    await _still_answers(communicator)
    assert await stored() == before
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("socket", "message_type"),
    [key for key, messages in BAD_MESSAGES.items() if messages],
    ids=[f"{socket}-{kind}" for (socket, kind), messages in BAD_MESSAGES.items() if messages],
)
async def test_bad_messages_get_an_error_naming_the_field_and_store_nothing(
    stripe_standin: Any, socket: str, message_type: str
) -> None:
    communicator, stored = await _open(socket)
    before = await stored()

    for message, code, field in BAD_MESSAGES[(socket, message_type)]:
        await communicator.send_json_to(message)
        reply = await _reply(communicator)
        assert (reply["type"], reply["code"]) == ("error", code), (message, reply)
        if field is not None:
            assert field in reply["fields"], (message, reply)

    await _still_answers(communicator)
    assert await stored() == before
    await communicator.disconnect()
