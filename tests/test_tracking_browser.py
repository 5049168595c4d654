"""The tracking page in a real browser: headless Chromium (Debian's package) on a phone-sized
screen, driven by playwright against the real server.

The recipient opens the link and sees the status and ETA; a courier ping moves the marker
and changes the ETA without a reload; delivery shows the delivered state and the proof
photo; and the page asks no host but the server for anything. A screenshot of each step
goes to the run's artefacts (TEST_ARTIFACTS_DIR, default ./test-artifacts/, not committed).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import urllib.request
import uuid
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import connection
from django.utils import timezone

from couriers.models import Courier, CourierStatus
from jobs.models import DeliveryOption, JobStatus
from jobs.tracking.privacy import round_to_grid
from jobs.tracking.tokens import job_tracking_token
from tests.e2e_server import PROJECT_ROOT, ServerInfo, running_server
from tests.factories import JobFactory, UserFactory

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", PROJECT_ROOT / "test-artifacts"))
TIMEOUT_MS = 15_000
PHONE = {"width": 390, "height": 844}


def tiny_png() -> bytes:
    """A valid 8 x 8 grey PNG (so the browser really renders the proof)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\x80" * 8 for _ in range(8)))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def server(django_db_setup: None) -> Iterator[ServerInfo]:
    with running_server(database=settings.DATABASES["default"], max_body_bytes=1 << 22) as info:
        yield info


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            "chromium is missing: run scripts/services.sh (it installs Debian's chromium)"
        )
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield instance
        instance.close()


def call(
    server: ServerInfo, path: str, key: str, body: Any = None, *, multipart: dict | None = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Token {key}"}
    if multipart is not None:
        boundary = uuid.uuid4().hex
        parts = []
        for name, value in multipart.items():
            if isinstance(value, bytes):
                parts.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                    f'filename="{name}.png"\r\nContent-Type: image/png\r\n\r\n'.encode()
                    + value
                    + b"\r\n"
                )
            else:
                disposition = f'Content-Disposition: form-data; name="{name}"'
                parts.append(f"--{boundary}\r\n{disposition}\r\n\r\n{value}\r\n".encode())
        data = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    else:
        data = json.dumps(body if body is not None else {}).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(
        server.http_url + path, data=data, headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read() or b"null")


def fix(lat: float, lng: float) -> dict[str, Any]:
    return {"lat": lat, "lng": lng, "recorded_at": timezone.now().isoformat(), "heading": 270}


def make_job() -> tuple[str, str, str]:
    """Set up in a thread of its own: playwright's sync API runs an event loop here, and
    the thread gives its database connection back when done."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_make_job).result()


def _make_job() -> tuple[str, str, str]:
    try:
        return _create_job()
    finally:
        connection.close()


def _create_job() -> tuple[str, str, str]:
    courier = Courier.objects.create(
        user=UserFactory(first_name="Mia", last_name="Lang"),
        vehicle="bike",
        capacity="small",
        status=CourierStatus.BUSY,
        current_point=Point(13.3790, 52.5120, srid=4326),
        position_recorded_at=timezone.now() - timedelta(seconds=5),
        is_position_trusted=True,
        last_seen_at=timezone.now(),
    )
    job = JobFactory(
        status=JobStatus.PICKED_UP, courier=courier, delivery_option=DeliveryOption.LEAVE_AT_DOOR
    )
    return str(job.pk), job_tracking_token(job), courier.user.auth_token.key


def shot(page: Any, name: str) -> None:
    folder = ARTIFACTS / "tracking-browser"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_a_recipient_follows_the_delivery_on_a_phone(server: ServerInfo, browser: Any) -> None:
    job_id, token, courier_key = make_job()
    origin = urlsplit(server.http_url).netloc
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="en-US"
    )
    foreign: list[str] = []
    requested: list[str] = []
    sockets: list[str] = []
    errors: list[str] = []

    def guard(route: Any) -> None:
        url = route.request.url
        requested.append(url)
        if urlsplit(url).netloc != origin and not url.startswith("data:"):
            foreign.append(url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))

    page.goto(f"{server.http_url}/t/{token}", wait_until="load")
    page.wait_for_selector("body[data-socket=open]", timeout=TIMEOUT_MS)
    status = page.locator('[data-field="status"]')
    eta = page.locator('[data-field="eta"]')
    assert status.inner_text() == "On the way to you"
    assert eta.inner_text().startswith("Arrives between")
    assert eta.get_attribute("data-source") == "default"
    assert page.locator("#map.leaflet-container").count() == 1
    assert page.locator("#map").get_attribute("data-courier") is None
    shot(page, "1-opened")

    code, _ = call(server, "/api/v1/courier/location/", courier_key, fix(52.5120, 13.3790))
    assert code == 201
    lat, lng = round_to_grid(52.5120, 13.3790)
    page.wait_for_selector(f'#map[data-courier="{lat},{lng}"]', timeout=TIMEOUT_MS)
    page.wait_for_selector('[data-field="eta"][data-source="straight_line"]', timeout=TIMEOUT_MS)
    assert page.locator("path.marker-courier").count() == 1
    assert len(navigations) == 1  # moved in place, no reload
    shot(page, "2-courier-moved")

    steps = f"/api/v1/courier/jobs/{job_id}/"
    assert call(server, steps + "arrive-dropoff/", courier_key)[0] == 200
    page.wait_for_selector('[data-field="status"][data-status="at_dropoff"]', timeout=TIMEOUT_MS)
    code, _ = call(
        server,
        steps + "deliver/",
        courier_key,
        multipart={"position": json.dumps({"lat": 52.5097, "lng": 13.3761}), "photo": tiny_png()},
    )
    assert code == 200
    page.wait_for_selector('[data-field="status"][data-status="delivered"]', timeout=TIMEOUT_MS)
    assert status.inner_text() == "Delivered"
    proof = page.locator('[data-field="proof-photos"] img')
    proof.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function(
        "() => { const i = document.querySelector('[data-field=\"proof-photos\"] img');"
        " return i && i.complete && i.naturalWidth === 8; }",
        timeout=TIMEOUT_MS,
    )
    assert page.locator("form[data-action=rating]").is_visible()
    shot(page, "3-delivered")

    assert foreign == []
    assert requested  # the guard saw the page's own requests
    assert all(urlsplit(url).netloc == origin for url in sockets)
    assert sockets == [f"{server.ws_url}/ws/track/{token}/"]
    assert errors == []
    context.close()


@pytest.mark.django_db(transaction=True)
def test_without_javascript_the_page_still_shows_the_facts(
    server: ServerInfo, browser: Any
) -> None:
    _, token, _ = make_job()
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()

    page.goto(f"{server.http_url}/t/{token}")

    assert page.locator('[data-field="status"]').inner_text() == "On the way to you"
    assert page.locator('[data-field="eta"]').inner_text().startswith("Arrives between")
    assert page.locator("svg.static-map circle").count() == 2  # no fresh courier fix yet
    assert page.locator("html").get_attribute("lang") == "en-us"
    shot(page, "0-no-javascript")
    context.close()
