"""Static files through the real ASGI server: served whole, and no warning in its log."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import django.contrib.admin
import pytest
from django.conf import settings

from tests.e2e_server import ServerInfo, running_server

pytestmark = pytest.mark.e2e

BASE_CSS = Path(django.contrib.admin.__file__).parent / "static" / "admin" / "css" / "base.css"
URL = "/static/admin/css/base.css"


@pytest.fixture(scope="module")
def server(django_db_setup: None) -> Iterator[ServerInfo]:
    with running_server(database=settings.DATABASES["default"], max_body_bytes=1024) as info:
        yield info


def request(server: ServerInfo, method: str, path: str) -> tuple[int, Message, bytes]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.headers, response.read()  # names: any case
    finally:
        conn.close()


def test_a_static_file_is_served_whole_without_a_warning(server: ServerInfo) -> None:
    expected = BASE_CSS.read_bytes()

    status, headers, body = request(server, "GET", URL)

    assert status == 200
    assert body == expected
    assert headers["Content-Length"] == str(len(expected))
    assert headers["Content-Type"].startswith("text/css")
    log = server.wait_for_log(f'"GET {URL} HTTP/1.1" 200')
    assert "StreamingHttpResponse must consume" not in log
    assert "Warning" not in log


def test_a_head_request_gets_the_headers_and_no_body(server: ServerInfo) -> None:
    status, headers, body = request(server, "HEAD", URL)

    assert status == 200
    assert headers["Content-Length"] == str(BASE_CSS.stat().st_size)
    assert body == b""
    assert "Warning" not in server.wait_for_log(f'"HEAD {URL} HTTP/1.1" 200')


def test_a_range_request_gets_the_range(server: ServerInfo) -> None:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("GET", URL, headers={"Range": "bytes=0-9"})
        response = conn.getresponse()
        status, body = response.status, response.read()
    finally:
        conn.close()

    assert status == 206
    assert body == BASE_CSS.read_bytes()[:10]
