"""The simulator's routes: the straight line with the road factor, or the engine's shape."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from payments.demo.simulator.routes import decode_polyline, plan_route
from tests.marketplace.test_eta import FakeEngine

ALEXANDERPLATZ = (52.5219, 13.4132)
POTSDAMER_PLATZ = (52.5096, 13.3760)


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    running = FakeEngine()
    yield running
    running.close()


def test_without_a_router_the_line_is_ridden_road_factor_times_slower(settings) -> None:
    settings.ROUTER, settings.ROUTE_ROAD_FACTOR = "straight_line", 1.3
    route = plan_route(ALEXANDERPLATZ, POTSDAMER_PLATZ, "bike")
    assert route.points == [ALEXANDERPLATZ, POTSDAMER_PLATZ]
    assert route.slowdown == 1.3
    assert round(route.length_m) == 2865
    middle, heading = route.at(route.length_m / 2)
    assert (round(middle[0], 5), round(middle[1], 5)) == (52.51575, 13.3946)
    assert round(heading) == 241  # south-west: 1.37 km south, 2.52 km west
    assert route.at(route.length_m + 100)[0] == POTSDAMER_PLATZ


def test_osrm_gives_the_shape_from_where_the_courier_is_to_where_they_go(
    settings, engine: FakeEngine
) -> None:
    settings.ROUTER, settings.ROUTER_URL = "osrm", engine.url
    coordinates = [[13.41321, 52.52191], [13.40, 52.515], [13.37601, 52.50961]]
    engine.body = json.dumps({"routes": [{"geometry": {"coordinates": coordinates}}]}).encode()

    route = plan_route(ALEXANDERPLATZ, POTSDAMER_PLATZ, "scooter")

    assert route.points == [ALEXANDERPLATZ, (52.515, 13.40), POTSDAMER_PLATZ]
    assert route.slowdown == 1.0
    assert [request["path"] for request in engine.requests] == [
        "/route/v1/bike/13.4132,52.5219;13.376,52.5096?overview=full&geometries=geojson"
    ]


def test_valhalla_shapes_are_decoded_and_a_silent_engine_means_the_line(
    settings, engine: FakeEngine
) -> None:
    settings.ROUTER, settings.ROUTER_URL = "valhalla", engine.url
    # Google's documented example polyline, read at six decimals: its middle point stays.
    engine.body = json.dumps(
        {"trip": {"legs": [{"shape": "_p~iF~ps|U_ulLnnqC_mqNvxq`@"}]}}
    ).encode()
    route = plan_route(ALEXANDERPLATZ, POTSDAMER_PLATZ, "van")
    assert route.points == [ALEXANDERPLATZ, (4.07, -12.095), POTSDAMER_PLATZ]
    assert json.loads(engine.requests[0]["body"])["costing"] == "truck"

    engine.status, engine.body = 500, b"{}"
    assert plan_route(ALEXANDERPLATZ, POTSDAMER_PLATZ, "van").points == [
        ALEXANDERPLATZ,
        POTSDAMER_PLATZ,
    ]


def test_the_polyline_decoder_reads_googles_example() -> None:
    assert decode_polyline("_p~iF~ps|U_ulLnnqC_mqNvxq`@", precision=5) == [
        (38.5, -120.2),
        (40.7, -120.95),
        (43.252, -126.453),
    ]
