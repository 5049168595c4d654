"""End-to-end: what an outside probe sent, through the real ASGI server (uvicorn).

The server's own log is part of the answer: hostile input must leave no traceback, no
"Exception in ASGI application" and no secret in it.
"""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client
from websockets.asyncio.client import connect

from couriers.models import Courier
from tests.e2e_server import ServerInfo, running_server
from tests.factories import PASSWORD, UserFactory
from tests.test_e2e import (
    MAX_BODY_BYTES,
    TIMEOUT_SECONDS,
    close_frame,
    receive_json,
    socket_options,
)

pytestmark = pytest.mark.e2e

TOKEN_URL = "/api/v1/auth/token/"


@pytest.fixture(scope="module")
def server(django_db_setup: None) -> Iterator[ServerInfo]:
    with running_server(
        database=settings.DATABASES["default"], max_body_bytes=MAX_BODY_BYTES
    ) as info:
        yield info


@pytest.fixture
def courier_token(courier: Courier) -> str:
    return courier.user.auth_token.key


def post_raw(
    server: ServerInfo, path: str, body: bytes, token: str | None = None
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    conn = http.client.HTTPConnection(server.host, server.port, timeout=TIMEOUT_SECONDS)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def assert_quiet(log: str) -> None:
    assert "Traceback" not in log
    assert "Exception in ASGI application" not in log
    assert "ERROR" not in log
    assert "WARNING" not in log


@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "courier"])
def test_deeply_nested_json_is_a_quiet_400(
    server: ServerInfo, transactional_db: None, courier_token: str, authenticated: bool
) -> None:
    start = len(server.log())
    body = b"[" * 963 + b"]" * 963
    path = "/api/v1/courier/availability/" if authenticated else TOKEN_URL

    status, reply = post_raw(server, path, body, courier_token if authenticated else None)

    assert status == 400
    assert reply == {
        "code": "parse_error",
        "message": "JSON parse error - nested too deeply "
        "(more than 32 levels of arrays and objects)",
        "fields": {},
    }
    assert_quiet(server.log()[start:])


@pytest.mark.parametrize(
    "frame",
    [
        "[" * 1000 + "]" * 1000,
        '{"type": "ping", "id": ' + "9" * 5000 + "}",
        '{"type": "ping", "id": NaN}',
    ],
    ids=["deep", "huge-int", "nan"],
)
async def test_hostile_socket_frames_get_an_error_and_the_socket_stays_open(
    server: ServerInfo, transactional_db: None, courier: Courier, courier_token: str, frame: str
) -> None:
    start = len(server.log())
    async with connect(**socket_options(server, "header", courier_token)) as socket:
        assert await receive_json(socket) == {"type": "hello", "courier_id": courier.pk}

        await socket.send(frame)
        async with asyncio.timeout(TIMEOUT_SECONDS):
            raw = await socket.recv()
        reply = json.loads(raw, parse_constant=lambda name: pytest.fail(f"{name} sent"))
        assert (reply["type"], reply["code"]) == ("error", "invalid_json")

        await socket.send(json.dumps({"type": "ping", "id": 3}))
        assert await receive_json(socket) == {"type": "pong", "id": 3}
    await asyncio.sleep(0.2)
    assert_quiet(server.log()[start:])


@pytest.mark.parametrize("key", ["%74oken", "TOKEN", "%54%4f%4b%45%4e", "%2574oken"])
async def test_a_token_under_another_spelling_neither_authenticates_nor_reaches_the_log(
    server: ServerInfo, transactional_db: None, courier_token: str, key: str
) -> None:
    options = socket_options(server, None)
    options["uri"] += f"?{key}={courier_token}"

    close = await close_frame(options)
    await asyncio.sleep(0.2)  # the server logs after the handshake

    assert (close.code, close.reason) == (4401, "missing or invalid token")
    log = server.log()
    assert f'"WebSocket /ws/courier/?{key}=***"' in log
    assert courier_token not in log


def admin_sign_in_over_http(server: ServerInfo, username: str, password: str) -> int:
    """Sign in on the server's admin page the way a browser does (CSRF cookie and field)."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=TIMEOUT_SECONDS)
    try:
        conn.request("GET", "/admin/login/")
        page = conn.getresponse()
        html = page.read().decode()
        cookie = page.getheader("Set-Cookie").split(";", 1)[0]
        csrf = html.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
        form = urlencode({"csrfmiddlewaretoken": csrf, "username": username, "password": password})
        conn.request(
            "POST",
            "/admin/login/",
            body=form,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
        )
        answer = conn.getresponse()
        answer.read()
        return answer.status
    finally:
        conn.close()


def test_an_admin_lockout_reached_on_one_node_holds_on_another(
    server: ServerInfo, transactional_db: None
) -> None:
    UserFactory(username="boss", is_staff=True, is_superuser=True)
    this_node = Client(REMOTE_ADDR="127.0.0.1")
    statuses = [
        this_node.post("/admin/login/", {"username": "boss", "password": "wrong"}).status_code
        for _ in range(5)
    ]

    assert statuses == [200] * 5
    assert admin_sign_in_over_http(server, "boss", PASSWORD) == 429
    assert admin_sign_in_over_http(server, "someone-else", "wrong") == 200
