"""End-to-end: HTTP and WebSockets through the real ASGI server (uvicorn) and test database."""

from __future__ import annotations

import asyncio
import http.client
import json
import signal
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from rest_framework.authtoken.models import Token
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError
from websockets.frames import Close

from couriers.models import Courier
from marketplace.models import Shop, User
from marketplace.realtime.broadcast import group_message
from marketplace.realtime.groups import courier_group
from tests.e2e_server import ServerInfo, running_server
from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e

MAX_BODY_BYTES = 64 * 1024
TIMEOUT_SECONDS = 5
SHOP_REGISTER_URL = "/api/v1/auth/register/shop/"
COURIER_REGISTER_URL = "/api/v1/auth/register/courier/"
TOKEN_URL = "/api/v1/auth/token/"
COURIER_SOCKET_PATH = "/ws/courier/"
TOO_LARGE = {
    "code": "request_too_large",
    "message": f"The request body is larger than {MAX_BODY_BYTES} bytes.",
    "fields": {},
}


@pytest.fixture(scope="module")
def server(django_db_setup: None) -> Iterator[ServerInfo]:
    """uvicorn serving ``marketplace.asgi`` against the test database pytest-django made."""
    with running_server(
        database=settings.DATABASES["default"], max_body_bytes=MAX_BODY_BYTES
    ) as info:
        yield info


@pytest.fixture
def courier_token(courier: Courier) -> str:
    return Token.objects.get(user=courier.user).key


@pytest.fixture
def shop_token(shop_user: User) -> str:
    return Token.objects.get(user=shop_user).key


def api_call(
    server: ServerInfo,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
) -> tuple[int, Any]:
    """Send one JSON request on a fresh connection; the status and the decoded JSON answer."""
    headers = {"Accept": "application/json"}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Token {token}"
    conn = http.client.HTTPConnection(server.host, server.port, timeout=TIMEOUT_SECONDS)
    try:
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def read_reply(conn: http.client.HTTPConnection) -> tuple[int, Any]:
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def padded_shop_body(size: int) -> bytes:
    """A valid shop sign-up of exactly ``size`` bytes (serializers ignore unknown fields)."""
    body: dict[str, Any] = {"username": "padded", "password": PASSWORD, "shop_name": "Padded"}
    body["padding"] = ""
    body["padding"] = "x" * (size - len(json.dumps(body).encode()))
    encoded = json.dumps(body).encode()
    assert len(encoded) == size
    return encoded


def post_shop_signup(
    conn: http.client.HTTPConnection, encoded: bytes, framing: str
) -> tuple[int, Any]:
    """POST ``encoded`` to shop sign-up with a Content-Length or in 8 KiB chunks."""
    headers = {"Content-Type": "application/json"}
    body: bytes | Iterable[bytes] = encoded
    if framing == "chunked":
        headers["Transfer-Encoding"] = "chunked"
        body = (encoded[start : start + 8192] for start in range(0, len(encoded), 8192))
    conn.request(
        "POST", SHOP_REGISTER_URL, body=body, headers=headers, encode_chunked=framing == "chunked"
    )
    return read_reply(conn)


def assert_nothing_created() -> None:
    assert User.objects.count() == 0
    assert Shop.objects.count() == 0
    assert Token.objects.count() == 0


def socket_options(server: ServerInfo, transport: str | None, key: str = "") -> dict[str, Any]:
    """``connect()`` arguments presenting ``key`` the way ``transport`` names (None: no key)."""
    options: dict[str, Any] = {
        "uri": f"{server.ws_url}{COURIER_SOCKET_PATH}",
        # A browser sends its page's Origin; native apps send none (tested on its own).
        "origin": server.http_url,
        "open_timeout": TIMEOUT_SECONDS,
        "close_timeout": TIMEOUT_SECONDS,
    }
    if transport == "header":
        options["additional_headers"] = {"Authorization": f"Token {key}"}
    elif transport == "subprotocol":
        options["subprotocols"] = ["token", key]
    elif transport == "query":
        options["uri"] += f"?token={key}"
    elif transport is not None:
        raise ValueError(transport)
    return options


async def receive_json(socket: ClientConnection) -> Any:
    async with asyncio.timeout(TIMEOUT_SECONDS):
        return json.loads(await socket.recv())


async def close_frame(options: dict[str, Any]) -> Close:
    """Connect and return the close frame the server ends the socket with."""
    async with connect(**options) as socket:
        with pytest.raises(ConnectionClosedError) as closed:
            await receive_json(socket)
    assert closed.value.rcvd is not None
    return closed.value.rcvd


def test_shop_and_courier_sign_up_sign_in_and_see_only_their_own_profile(
    server: ServerInfo, transactional_db: None
) -> None:
    status, shop_signup = api_call(
        server,
        "POST",
        SHOP_REGISTER_URL,
        {"username": "bakery", "password": PASSWORD, "shop_name": "Corner Bakery"},
    )
    assert status == 201, shop_signup
    status, courier_signup = api_call(
        server,
        "POST",
        COURIER_REGISTER_URL,
        {"username": "rider", "password": PASSWORD, "vehicle": "bike"},
    )
    assert status == 201, courier_signup

    shop_user = User.objects.get(username="bakery")
    courier = Courier.objects.get(user__username="rider")
    status, shop_signin = api_call(
        server, "POST", TOKEN_URL, {"username": "bakery", "password": PASSWORD}
    )
    assert status == 200
    assert shop_signin == {
        "token": Token.objects.get(user=shop_user).key,
        "user": {"id": shop_user.pk, "username": "bakery", "email": "", "role": "shop"},
    }
    assert shop_signin["token"] == shop_signup["token"]
    status, courier_signin = api_call(
        server, "POST", TOKEN_URL, {"username": "rider", "password": PASSWORD}
    )
    assert status == 200
    assert courier_signin == {
        "token": Token.objects.get(user=courier.user).key,
        "user": {"id": courier.user.pk, "username": "rider", "email": "", "role": "courier"},
    }
    assert courier_signin["token"] == courier_signup["token"]

    status, courier_me = api_call(
        server, "GET", "/api/v1/courier/me/", token=courier_signin["token"]
    )
    assert status == 200
    assert courier_me == {
        "id": courier.pk,
        "vehicle": "bike",
        "capacity": "small",
        "status": "offline",
        "current_point": None,
        "last_seen_at": None,
        "rating": "5.00",
    }
    status, shop_me = api_call(server, "GET", "/api/v1/shop/me/", token=courier_signin["token"])
    assert status == 403
    assert shop_me == {
        "code": "permission_denied",
        "message": "This endpoint is for shop accounts.",
        "fields": {},
    }
    status, shop_me = api_call(server, "GET", "/api/v1/shop/me/", token=shop_signin["token"])
    assert status == 200
    assert datetime.fromisoformat(shop_me.pop("created_at")) == shop_user.shop.created_at
    assert shop_me == {
        "id": shop_user.shop_id,
        "name": "Corner Bakery",
        "default_pickup_address": "",
        "default_pickup_point": None,
        "webhook_url": "",
    }


@pytest.mark.parametrize(
    ("transport", "accepted_subprotocol"),
    [("header", None), ("subprotocol", "token"), ("query", None)],
)
async def test_courier_socket_authenticates_each_way_and_pongs(
    server: ServerInfo,
    transactional_db: None,
    courier: Courier,
    courier_token: str,
    transport: str,
    accepted_subprotocol: str | None,
) -> None:
    async with connect(**socket_options(server, transport, courier_token)) as socket:
        assert socket.subprotocol == accepted_subprotocol
        assert await receive_json(socket) == {"type": "hello", "courier_id": courier.pk}
        await socket.send(json.dumps({"type": "ping", "id": "abc-1"}))
        assert await receive_json(socket) == {"type": "pong", "id": "abc-1"}


async def test_group_message_reaches_a_socket_idle_past_redis_timeouts(
    server: ServerInfo, transactional_db: None, courier: Courier, courier_token: str
) -> None:
    # redis-py 8 times reads out after 5 s by default; an idle socket must still get offers.
    async with connect(**socket_options(server, "header", courier_token)) as socket:
        await receive_json(socket)  # hello
        await asyncio.sleep(6)
        payload = {"type": "offer", "offer_id": 42}
        await get_channel_layer().group_send(courier_group(courier.pk), group_message(payload))
        assert await receive_json(socket) == payload


async def test_server_stops_gracefully_after_sockets_close_every_way(
    django_db_setup: None, transactional_db: None, courier_token: str
) -> None:
    with running_server(
        database=settings.DATABASES["default"], max_body_bytes=MAX_BODY_BYTES
    ) as own_server:
        kept = []
        for _ in range(3):
            socket = await connect(**socket_options(own_server, "query", courier_token))
            await receive_json(socket)
            kept.append(socket)
        for _ in range(2):
            await close_frame(socket_options(own_server, "query", "wrong"))
        await kept[0].close()
        for socket in kept[1:]:
            socket.transport.abort()  # the client vanishes without a close frame
        await asyncio.sleep(0.5)

        # SIGTERM; killing it after SHUTDOWN_TIMEOUT_SECONDS would mean a stuck task.
        assert own_server.stop() is True
        # uvicorn re-raises the signal once its graceful shutdown is done.
        assert own_server.process.returncode == -signal.SIGTERM


async def test_a_query_string_token_never_reaches_the_server_log(
    server: ServerInfo, transactional_db: None, courier_token: str
) -> None:
    async with connect(**socket_options(server, "query", courier_token)) as socket:
        await receive_json(socket)
    before = server.log().count('"WebSocket /ws/courier/?token=***"')
    await close_frame(socket_options(server, "query", "wrong-token-value"))

    # The server logs each handshake once it has handled it: wait for the second line.
    log = await asyncio.to_thread(
        server.wait_for_log, '"WebSocket /ws/courier/?token=***"', count=before + 1
    )
    assert '"WebSocket /ws/courier/?token=***" [accepted]' in log
    assert courier_token not in log
    assert "wrong-token-value" not in log


async def test_courier_socket_without_token_closes_4401(
    server: ServerInfo, transactional_db: None, courier: Courier
) -> None:
    close = await close_frame(socket_options(server, None))

    assert (close.code, close.reason) == (4401, "missing or invalid token")


@pytest.mark.parametrize("transport", ["header", "subprotocol", "query"])
async def test_courier_socket_with_wrong_token_closes_4401(
    server: ServerInfo,
    transactional_db: None,
    courier_token: str,
    transport: str,
) -> None:
    wrong = "0" * len(courier_token)
    close = await close_frame(socket_options(server, transport, wrong))

    assert (close.code, close.reason) == (4401, "missing or invalid token")


async def test_courier_socket_with_shop_token_closes_4403(
    server: ServerInfo, transactional_db: None, shop_token: str
) -> None:
    close = await close_frame(socket_options(server, "header", shop_token))

    assert (close.code, close.reason) == (4403, "this socket is for courier users")


async def test_courier_socket_connects_without_origin_like_a_native_app(
    server: ServerInfo, transactional_db: None, courier: Courier, courier_token: str
) -> None:
    options = socket_options(server, "header", courier_token)
    del options["origin"]

    async with connect(**options) as socket:
        assert await receive_json(socket) == {"type": "hello", "courier_id": courier.pk}


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (
            "not json",
            {
                "code": "invalid_json",
                "message": "Frame is not valid JSON: Expecting value.",
                "fields": {},
            },
        ),
        (
            "[1, 2]",
            {
                "code": "invalid_message",
                "message": 'Each message is a JSON object with a string "type".',
                "fields": {"type": ["This field is required."]},
            },
        ),
        (
            '{"type": 7}',
            {
                "code": "invalid_message",
                "message": 'Each message is a JSON object with a string "type".',
                "fields": {"type": ["This field is required."]},
            },
        ),
        (
            '{"type": "dance"}',
            {
                "code": "unknown_type",
                "message": "Unknown message type 'dance'.",
                "fields": {"type": ["Unknown message type 'dance'."]},
            },
        ),
        (
            b"\x00binary",
            {
                "code": "invalid_frame",
                "message": "Send JSON text frames, not binary.",
                "fields": {},
            },
        ),
    ],
    ids=["not-json", "json-list", "type-not-string", "unknown-type", "binary"],
)
async def test_courier_socket_answers_a_bad_frame_with_an_error_and_stays_open(
    server: ServerInfo,
    transactional_db: None,
    courier: Courier,
    courier_token: str,
    frame: str | bytes,
    error: dict[str, Any],
) -> None:
    async with connect(**socket_options(server, "header", courier_token)) as socket:
        assert await receive_json(socket) == {"type": "hello", "courier_id": courier.pk}

        await socket.send(frame)
        assert await receive_json(socket) == {"type": "error", **error}

        await socket.send(json.dumps({"type": "ping", "id": 2}))
        assert await receive_json(socket) == {"type": "pong", "id": 2}


def test_declared_oversized_body_is_refused_before_it_is_read(
    server: ServerInfo, transactional_db: None
) -> None:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=TIMEOUT_SECONDS)
    try:
        # Headers only: the answer must come without the server waiting for the body.
        conn.putrequest("POST", SHOP_REGISTER_URL)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
        conn.endheaders()
        status, body = read_reply(conn)
    finally:
        conn.close()

    assert status == 413
    assert body == TOO_LARGE
    assert_nothing_created()


@pytest.mark.parametrize("size", [MAX_BODY_BYTES + 1, 32 * MAX_BODY_BYTES])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_oversized_body_sent_in_full_is_refused_and_the_connection_stays_usable(
    server: ServerInfo, transactional_db: None, framing: str, size: int
) -> None:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=TIMEOUT_SECONDS)
    try:
        status, reply = post_shop_signup(conn, padded_shop_body(size), framing)
        # The unread rest of the body was dropped, not parsed as the next request.
        conn.request("GET", "/api/v1/courier/me/")
        next_status, next_reply = read_reply(conn)
    finally:
        conn.close()

    assert status == 413
    assert reply == TOO_LARGE
    assert next_status == 401
    assert next_reply == {
        "code": "not_authenticated",
        "message": "Authentication credentials were not provided.",
        "fields": {},
    }
    assert_nothing_created()


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_body_of_exactly_the_limit_is_processed(
    server: ServerInfo, transactional_db: None, framing: str
) -> None:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=TIMEOUT_SECONDS)
    try:
        # Chunked means no Content-Length at all: the body must still reach the serializer.
        status, reply = post_shop_signup(conn, padded_shop_body(MAX_BODY_BYTES), framing)
    finally:
        conn.close()

    assert status == 201, reply
    user = User.objects.get()
    assert reply["user"] == {"id": user.pk, "username": "padded", "email": "", "role": "shop"}
    assert reply["shop"]["id"] == user.shop_id
    assert user.shop.name == "Padded"


def test_garbage_body_under_the_limit_gets_a_validation_error(
    server: ServerInfo, transactional_db: None
) -> None:
    status, body = api_call(
        server, "POST", SHOP_REGISTER_URL, {"garbage": "y" * (MAX_BODY_BYTES // 2)}
    )

    assert status == 400
    assert body == {
        "code": "validation_error",
        "message": "Invalid input. username: This field is required. "
        "password: This field is required. shop_name: This field is required.",
        "fields": {
            "username": ["This field is required."],
            "password": ["This field is required."],
            "shop_name": ["This field is required."],
        },
    }
    assert_nothing_created()


def test_healthz_reports_database_and_redis_up_and_no_worker(server: ServerInfo, db: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT postgis_lib_version()")
        (postgis_version,) = cursor.fetchone()

    status, body = api_call(server, "GET", "/healthz")

    assert status == 503
    assert body["status"] == "down"
    assert body["down"] == ["worker", "webhook_worker"]
    assert set(body["checks"]) == {"database", "redis", "worker", "webhook_worker"}
    assert body["checks"]["database"] == {"ok": True, "postgis": postgis_version}
    assert body["checks"]["redis"]["ok"] is True
    assert set(body["checks"]["redis"]) == {"ok", "ping_ms"}
    assert body["checks"]["worker"] == {
        "ok": False,
        "error": "no django-q2 cluster serves the main task queue; start one with "
        "`python manage.py qcluster` (./dev run does this)",
    }
    assert body["checks"]["webhook_worker"] == {
        "ok": False,
        "error": "no django-q2 cluster serves the 'webhooks' queue; start one with "
        "`Q_CLUSTER_NAME=webhooks python manage.py qcluster` (./dev run does this)",
    }
