"""Every socket's frame discipline: strict JSON, the frame rate limit, crashes close with 1011."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from couriers.consumers import CourierConsumer
from couriers.models import Courier
from marketplace.asgi import application
from marketplace.models import Role
from marketplace.realtime.auth import TokenAuthMiddleware
from marketplace.realtime.consumers import AuthenticatedJsonConsumer
from marketplace.realtime.groups import courier_group
from marketplace.realtime.ratelimit import TokenBucket
from tests.factories import CourierFactory

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/ws/courier/"
TOO_DEEP = "Frame is not valid JSON: nested too deeply (more than 32 levels of arrays and objects)."
INT_RANGE = (
    "Frame is not valid JSON: integer out of range (integers must fit in a signed 64-bit integer)."
)


def strict_json(text: str) -> Any:
    """What a standards-following client does with a frame: NaN is not JSON."""

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


async def courier_socket(courier: Courier | None = None) -> WebsocketCommunicator:
    courier = courier or await database_sync_to_async(CourierFactory)()
    communicator = WebsocketCommunicator(application, f"{URL}?token={courier.user.auth_token.key}")
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    hello = await communicator.receive_json_from(timeout=5)
    assert hello == {"type": "hello", "courier_id": courier.pk}
    return communicator


async def next_frame(communicator: WebsocketCommunicator) -> Any:
    return strict_json(await communicator.receive_from(timeout=5))


async def assert_still_answers(communicator: WebsocketCommunicator) -> None:
    await communicator.send_to(text_data='{"type": "ping", "id": "after"}')
    assert await next_frame(communicator) == {"type": "pong", "id": "after"}


def error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, "fields": {}}


# --- Strict frames -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "reply"),
    [
        ("[" * 1000 + "]" * 1000, error("invalid_json", TOO_DEEP)),
        (
            '{"type": "locations", "items": ' + "[" * 40 + "]" * 40 + "}",
            error("invalid_json", TOO_DEEP),
        ),
        ('{"type": "ping", "id": ' + "7" * 5000 + "}", error("invalid_json", INT_RANGE)),
        ('{"type": "ping", "id": 9223372036854775808}', error("invalid_json", INT_RANGE)),
        (
            '{"type": "ping", "id": NaN}',
            error("invalid_json", "Frame is not valid JSON: NaN is not a JSON number."),
        ),
        (
            '{"type": "ping", "id": -Infinity}',
            error("invalid_json", "Frame is not valid JSON: -Infinity is not a JSON number."),
        ),
        (
            '{"type": "ping", "id": 1e999}',
            error("invalid_json", "Frame is not valid JSON: number out of range."),
        ),
    ],
    ids=["deep-1000", "deep-items", "5000-digits", "int64-max-plus-1", "nan", "-inf", "1e999"],
)
async def test_a_hostile_frame_gets_an_error_and_the_socket_stays_open(
    frame: str, reply: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    communicator = await courier_socket()

    with caplog.at_level(logging.DEBUG):
        await communicator.send_to(text_data=frame)
        assert await next_frame(communicator) == reply
        await assert_still_answers(communicator)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    await communicator.disconnect()


async def test_a_ping_id_within_64_bits_is_echoed() -> None:
    communicator = await courier_socket()

    await communicator.send_to(text_data='{"type": "ping", "id": -9223372036854775808}')

    assert await next_frame(communicator) == {"type": "pong", "id": -(2**63)}
    await communicator.disconnect()


async def test_a_frame_over_the_size_limit_is_refused(settings: Any) -> None:
    settings.WS_MAX_FRAME_BYTES = 100
    communicator = await courier_socket()

    await communicator.send_to(text_data=json.dumps({"type": "ping", "id": "x" * 100}))

    assert await next_frame(communicator) == error(
        "frame_too_large", "Frames may be at most 100 bytes."
    )
    await assert_still_answers(communicator)
    await communicator.disconnect()


async def test_outgoing_frames_never_carry_nan() -> None:
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        await CourierConsumer.encode_json({"type": "pong", "id": float("nan")})


# --- Crashes -----------------------------------------------------------------------------


class ExplodingConsumer(AuthenticatedJsonConsumer):
    """A courier socket whose ``boom`` handler fails, recording its disconnects."""

    role = Role.COURIER
    handlers = {"boom": "on_boom", "ping": "on_ping"}
    groups = ["exploding-test-group"]
    disconnects: list[int] = []

    async def on_boom(self, content: dict[str, Any]) -> None:
        raise RuntimeError("handler bug")

    async def on_ping(self, content: dict[str, Any]) -> None:
        await self.send_json({"type": "pong", "id": content.get("id")})

    async def disconnect(self, code: int) -> None:
        type(self).disconnects.append(code)


async def test_a_crashing_handler_is_logged_once_and_closes_1011_after_leaving_its_groups(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ExplodingConsumer.disconnects = []
    app = TokenAuthMiddleware(ExplodingConsumer.as_asgi())
    courier = await database_sync_to_async(CourierFactory)()
    communicator = WebsocketCommunicator(app, f"{URL}?token={courier.user.auth_token.key}")
    assert (await communicator.connect(timeout=5))[0]

    with caplog.at_level(logging.DEBUG):
        await communicator.send_to(text_data='{"type": "boom"}')
        closed = await communicator.receive_output(timeout=5)
        await communicator.wait(timeout=5)  # the consumer ended instead of raising

    assert closed == {"type": "websocket.close", "code": 1011}
    assert ExplodingConsumer.disconnects == [1011]
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [(r.name, r.getMessage()) for r in failures] == [
        (
            "marketplace.realtime.consumers",
            "socket /ws/courier/: websocket.receive failed; closing with 1011",
        )
    ]
    assert failures[0].exc_info[0] is RuntimeError


async def test_the_courier_socket_leaves_its_group_when_a_handler_crashes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    left: list[tuple[str, int]] = []
    real_disconnect = CourierConsumer.disconnect

    async def recording_disconnect(self: CourierConsumer, code: int) -> None:
        left.append((self.group, code))
        await real_disconnect(self, code)

    async def broken_ping(self: CourierConsumer, content: dict[str, Any]) -> None:
        raise KeyError("bug")

    monkeypatch.setattr(CourierConsumer, "disconnect", recording_disconnect)
    monkeypatch.setattr(CourierConsumer, "on_ping", broken_ping)
    courier = await database_sync_to_async(CourierFactory)()
    communicator = await courier_socket(courier)

    await communicator.send_to(text_data='{"type": "ping", "id": 1}')

    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 1011}
    await communicator.wait(timeout=5)
    assert left == [(courier_group(courier.pk), 1011)]


# --- Rate limit --------------------------------------------------------------------------


def test_token_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    now = [100.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])

    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5  # one token back
    assert [bucket.take(), bucket.take()] == [True, False]
    now[0] += 60  # never more than the burst
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


async def test_frames_over_the_rate_get_rate_limited_and_a_flood_closes_4429(
    settings: Any,
) -> None:
    # Practically no refill during the test, so the count alone decides.
    settings.WS_RATE_PER_SECOND = 0.0001
    settings.WS_RATE_BURST = 3
    settings.WS_RATE_CLOSE_AFTER = 4
    communicator = await courier_socket()  # the handshake is not a frame
    limited = error(
        "rate_limited",
        "Too many frames: at most 0.0001 per second (bursts of 3). This frame was dropped.",
    )

    for number in range(3):
        await communicator.send_to(text_data=json.dumps({"type": "ping", "id": number}))
        assert await next_frame(communicator) == {"type": "pong", "id": number}
    for _ in range(3):
        await communicator.send_to(text_data='{"type": "ping", "id": "over"}')
        assert await next_frame(communicator) == limited
    await communicator.send_to(text_data='{"type": "ping", "id": "flood"}')

    assert await communicator.receive_output(timeout=5) == {
        "type": "websocket.close",
        "code": 4429,
        "reason": "too many frames",
    }
    await communicator.send_to(text_data='{"type": "ping", "id": "after-close"}')
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()
