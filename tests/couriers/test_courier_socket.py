"""The courier socket: token auth at the handshake, ping/pong, bad frames, group delivery."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from marketplace.asgi import application
from marketplace.realtime.broadcast import group_message
from marketplace.realtime.groups import courier_group
from tests.factories import CourierFactory, ShopUserFactory

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/ws/courier/"


@database_sync_to_async
def make_courier():
    return CourierFactory()


@database_sync_to_async
def make_shop_user():
    return ShopUserFactory()


async def connect(**kwargs) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, kwargs.pop("path", URL), **kwargs)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def assert_closed_with(communicator: WebsocketCommunicator, code: int) -> None:
    message = await communicator.receive_output(timeout=5)
    assert message == {"type": "websocket.close", "code": code, "reason": message.get("reason")}
    await communicator.wait()


async def test_header_token_connects_and_pongs() -> None:
    courier = await make_courier()
    headers = [(b"authorization", f"Token {courier.user.auth_token.key}".encode())]
    communicator = await connect(headers=headers)

    assert await communicator.receive_json_from(timeout=5) == {
        "type": "hello",
        "courier_id": courier.pk,
    }
    await communicator.send_json_to({"type": "ping", "id": 7})
    assert await communicator.receive_json_from(timeout=5) == {"type": "pong", "id": 7}
    await communicator.disconnect()


async def test_subprotocol_token_is_accepted_with_the_token_subprotocol() -> None:
    courier = await make_courier()
    communicator = WebsocketCommunicator(
        application, URL, subprotocols=["token", courier.user.auth_token.key]
    )
    connected, subprotocol = await communicator.connect(timeout=5)

    assert connected
    assert subprotocol == "token"
    assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
    await communicator.disconnect()


async def test_query_string_token_connects() -> None:
    courier = await make_courier()
    communicator = await connect(path=f"{URL}?token={courier.user.auth_token.key}")

    assert (await communicator.receive_json_from(timeout=5))["courier_id"] == courier.pk
    await communicator.disconnect()


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"headers": [(b"authorization", b"Token not-a-real-token")]},
        {"path": f"{URL}?token=nope"},
        {"subprotocols": ["token"]},
    ],
)
async def test_missing_or_wrong_token_closes_with_4401(kwargs: dict) -> None:
    await make_courier()  # a real token exists; a wrong one still fails
    communicator = await connect(**kwargs)

    await assert_closed_with(communicator, 4401)


async def test_a_shop_token_closes_with_4403() -> None:
    user = await make_shop_user()
    communicator = await connect(path=f"{URL}?token={user.auth_token.key}")

    await assert_closed_with(communicator, 4403)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_message"),
        ('{"no": "type"}', "invalid_message"),
        ('{"type": 5}', "invalid_message"),
        ('{"type": "teleport"}', "unknown_type"),
        ('{"type": "authenticated"}', "unknown_type"),
    ],
)
async def test_bad_frames_get_an_error_and_the_socket_stays_open(frame: str, code: str) -> None:
    courier = await make_courier()
    communicator = await connect(path=f"{URL}?token={courier.user.auth_token.key}")
    await communicator.receive_json_from(timeout=5)  # hello

    await communicator.send_to(text_data=frame)
    error = await communicator.receive_json_from(timeout=5)

    assert error["type"] == "error"
    assert error["code"] == code
    assert error["message"]
    await communicator.send_json_to({"type": "ping", "id": "still-here"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "pong", "id": "still-here"}
    await communicator.disconnect()


async def test_binary_frames_are_refused_politely() -> None:
    courier = await make_courier()
    communicator = await connect(path=f"{URL}?token={courier.user.auth_token.key}")
    await communicator.receive_json_from(timeout=5)

    await communicator.send_to(bytes_data=b"\x00\x01")

    assert (await communicator.receive_json_from(timeout=5))["code"] == "invalid_frame"
    await communicator.disconnect()


async def test_messages_to_the_couriers_group_reach_only_that_courier() -> None:
    courier, other = await make_courier(), await make_courier()
    mine = await connect(path=f"{URL}?token={courier.user.auth_token.key}")
    theirs = await connect(path=f"{URL}?token={other.user.auth_token.key}")
    await mine.receive_json_from(timeout=5)
    await theirs.receive_json_from(timeout=5)

    payload = {"type": "offer", "offer_id": 1}
    await get_channel_layer().group_send(courier_group(courier.pk), group_message(payload))

    assert await mine.receive_json_from(timeout=5) == payload
    assert await theirs.receive_nothing(timeout=0.5)
    await mine.disconnect()
    await theirs.disconnect()


@pytest.mark.parametrize("key", ["%74oken", "%74%6F%6B%65%6E", "TOKEN", "Token", "token%20"])
async def test_only_the_canonical_token_query_key_authenticates(key: str) -> None:
    courier = await make_courier()
    communicator = await connect(path=f"{URL}?{key}={courier.user.auth_token.key}")

    await assert_closed_with(communicator, 4401)
