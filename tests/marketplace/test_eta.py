"""ETAs: the straight-line default, and OSRM/Valhalla routers against a real local server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.contrib.gis.geos import Point
from django.core.exceptions import ImproperlyConfigured

from marketplace.eta import (
    OsrmRouter,
    StraightLineRouter,
    ValhallaRouter,
    get_router,
    haversine_m,
    straight_line_seconds,
)

ALEXANDERPLATZ = Point(13.4132, 52.5219, srid=4326)
POTSDAMER_PLATZ = Point(13.3760, 52.5096, srid=4326)


class FakeEngine:
    """A loopback HTTP server that answers like a routing engine and records requests."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.body: bytes = b"{}"
        self.delay = 0.0
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                engine.requests.append(
                    {"method": self.command, "path": self.path, "body": self.rfile.read(length)}
                )
                if engine.delay:
                    threading.Event().wait(engine.delay)
                try:
                    self.send_response(engine.status)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(engine.body)
                except BrokenPipeError:
                    pass  # the router gave up waiting, as the "too slow" case wants

            do_GET = _answer
            do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    running = FakeEngine()
    yield running
    running.close()


@pytest.fixture(autouse=True)
def _fresh_router() -> Iterator[None]:
    get_router.cache_clear()
    yield
    get_router.cache_clear()


def test_straight_line_is_distance_times_road_factor_over_vehicle_speed(settings) -> None:
    settings.ROUTE_ROAD_FACTOR = 1.5
    settings.VEHICLE_SPEED_MPS = {"bike": 5.0, "car": 10.0}

    assert straight_line_seconds(1000, "bike") == 300
    assert straight_line_seconds(1000, "car") == 150
    # An unknown vehicle is timed like a car.
    assert straight_line_seconds(1000, "hovercraft") == 150


def test_haversine_matches_postgis_within_half_a_percent() -> None:
    # ST_Distance on the spheroid gives 2,872 m for this pair (the quote tests use it).
    assert haversine_m(ALEXANDERPLATZ, POTSDAMER_PLATZ) == pytest.approx(2872, rel=0.005)


def test_the_default_router_is_the_straight_line(settings) -> None:
    settings.ROUTER = "straight_line"
    router = get_router()
    assert isinstance(router, StraightLineRouter)
    expected = straight_line_seconds(haversine_m(ALEXANDERPLATZ, POTSDAMER_PLATZ), "bike")
    assert router.eta_seconds(ALEXANDERPLATZ, POTSDAMER_PLATZ, vehicle="bike") == expected


@pytest.mark.parametrize(
    ("kind", "url", "message"),
    [
        ("hopper", "", "ROUTER='hopper' is unknown; use straight_line, osrm or valhalla."),
        ("osrm", "", "ROUTER=osrm needs ROUTER_URL, e.g. http://127.0.0.1:5000"),
    ],
)
def test_a_misconfigured_router_names_the_fix(settings, kind: str, url: str, message: str) -> None:
    settings.ROUTER, settings.ROUTER_URL = kind, url
    with pytest.raises(ImproperlyConfigured) as error:
        get_router()
    assert str(error.value) == message


def test_osrm_is_asked_for_the_vehicles_profile(settings, engine: FakeEngine) -> None:
    settings.ROUTER, settings.ROUTER_URL = "osrm", engine.url + "/"
    engine.body = json.dumps({"code": "Ok", "routes": [{"duration": 411.2}]}).encode()
    router = get_router()
    assert isinstance(router, OsrmRouter)

    assert router.eta_seconds(ALEXANDERPLATZ, POTSDAMER_PLATZ, vehicle="scooter") == 412
    assert engine.requests == [
        {
            "method": "GET",
            "path": "/route/v1/bike/13.4132,52.5219;13.376,52.5096?overview=false",
            "body": b"",
        }
    ]


def test_valhalla_gets_locations_and_costing(settings, engine: FakeEngine) -> None:
    settings.ROUTER, settings.ROUTER_URL = "valhalla", engine.url
    engine.body = json.dumps({"trip": {"summary": {"time": 99.1, "length": 3.1}}}).encode()
    router = get_router()
    assert isinstance(router, ValhallaRouter)

    assert router.eta_seconds(ALEXANDERPLATZ, POTSDAMER_PLATZ, vehicle="van") == 100
    (request,) = engine.requests
    assert (request["method"], request["path"]) == ("POST", "/route")
    assert json.loads(request["body"]) == {
        "locations": [{"lat": 52.5219, "lon": 13.4132}, {"lat": 52.5096, "lon": 13.376}],
        "costing": "truck",
    }


@pytest.mark.parametrize(
    ("status", "body", "delay"),
    [
        (500, b'{"error": "boom"}', 0.0),
        (200, b"not json", 0.0),
        (200, b'{"routes": []}', 0.0),
        (200, b'{"routes": [{"duration": "soon"}]}', 0.0),
        (200, b'{"routes": [{"duration": 60}]}', 1.0),
    ],
    ids=["server-error", "not-json", "no-route", "bad-duration", "too-slow"],
)
def test_osrm_failures_fall_back_to_the_straight_line(
    settings, engine: FakeEngine, status: int, body: bytes, delay: float
) -> None:
    settings.ROUTER, settings.ROUTER_URL = "osrm", engine.url
    settings.ROUTER_TIMEOUT_SECONDS = 0.3
    engine.status, engine.body, engine.delay = status, body, delay

    eta = get_router().eta_seconds(ALEXANDERPLATZ, POTSDAMER_PLATZ, vehicle="car")

    assert eta == StraightLineRouter().eta_seconds(ALEXANDERPLATZ, POTSDAMER_PLATZ, vehicle="car")
    assert len(engine.requests) == 1


def test_an_unreachable_engine_falls_back_too(settings) -> None:
    settings.ROUTER, settings.ROUTER_URL = "valhalla", "http://127.0.0.1:9"  # discard port
    eta = get_router().eta_seconds(ALEXANDERPLATZ, POTSDAMER_PLATZ, vehicle="bike")
    assert eta == StraightLineRouter().eta_seconds(ALEXANDERPLATZ, POTSDAMER_PLATZ, vehicle="bike")
