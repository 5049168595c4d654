"""The way a simulated courier rides: the router's geometry, or a straight line with a road factor.

With ``ROUTER=osrm`` or ``valhalla`` the path is that engine's route shape (asked once per
leg, off the event loop); without one, or when it does not answer in time, it is the
straight line, ridden ``ROUTE_ROAD_FACTOR`` times slower so that a leg takes as long as
the server's own straight-line ETA says.
"""

from __future__ import annotations

import json
import logging
import math
import urllib.request
from dataclasses import dataclass

from django.conf import settings

logger = logging.getLogger(__name__)

LatLng = tuple[float, float]
_EARTH_RADIUS_M = 6_371_008.8


def distance_m(a: LatLng, b: LatLng) -> float:
    lat1, lat2 = math.radians(a[0]), math.radians(b[0])
    dlat, dlng = lat2 - lat1, math.radians(b[1] - a[1])
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bearing_deg(a: LatLng, b: LatLng) -> float:
    lat1, lat2 = math.radians(a[0]), math.radians(b[0])
    dlng = math.radians(b[1] - a[1])
    x = math.sin(dlng) * math.cos(lat2)
    y = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(dlng)
    return (math.degrees(math.atan2(x, y)) + 360) % 360


@dataclass
class Route:
    """Points along the way; ``slowdown`` > 1 when the line stands for longer roads."""

    points: list[LatLng]
    slowdown: float = 1.0

    def __post_init__(self) -> None:
        self.cumulative = [0.0]
        for a, b in zip(self.points, self.points[1:], strict=False):
            self.cumulative.append(self.cumulative[-1] + distance_m(a, b))

    @property
    def length_m(self) -> float:
        return self.cumulative[-1]

    def at(self, travelled_m: float) -> tuple[LatLng, float]:
        """The point ``travelled_m`` along the geometry, and the heading there."""
        if travelled_m >= self.length_m or len(self.points) == 1:
            end = self.points[-1]
            heading = bearing_deg(self.points[-2], end) if len(self.points) > 1 else 0.0
            return end, heading
        index = next(i for i, c in enumerate(self.cumulative) if c > travelled_m) - 1
        a, b = self.points[index], self.points[index + 1]
        span = self.cumulative[index + 1] - self.cumulative[index]
        share = (travelled_m - self.cumulative[index]) / span if span else 1.0
        point = (a[0] + (b[0] - a[0]) * share, a[1] + (b[1] - a[1]) * share)
        return point, bearing_deg(a, b)


def straight_route(origin: LatLng, destination: LatLng) -> Route:
    return Route([origin, destination], slowdown=settings.ROUTE_ROAD_FACTOR)


def plan_route(origin: LatLng, destination: LatLng, vehicle: str) -> Route:
    """The configured router's shape for the leg; the straight line if there is none."""
    kind = settings.ROUTER
    if kind == "straight_line" or not settings.ROUTER_URL:
        return straight_route(origin, destination)
    try:
        points = (osrm_shape if kind == "osrm" else valhalla_shape)(origin, destination, vehicle)
    except (OSError, ValueError, KeyError, IndexError, TypeError) as error:
        logger.warning("router %s gave no route (%s); riding the straight line", kind, error)
        return straight_route(origin, destination)
    if len(points) < 2:
        return straight_route(origin, destination)
    # Start and end exactly where the courier is and where they are going.
    return Route([origin, *points[1:-1], destination])


def _get_json(request: urllib.request.Request) -> dict:
    with urllib.request.urlopen(request, timeout=settings.ROUTER_TIMEOUT_SECONDS) as response:
        return json.loads(response.read())


def osrm_shape(origin: LatLng, destination: LatLng, vehicle: str) -> list[LatLng]:
    profile = {"bike": "bike", "scooter": "bike"}.get(vehicle, "car")
    coords = f"{origin[1]},{origin[0]};{destination[1]},{destination[0]}"
    url = (
        f"{settings.ROUTER_URL.rstrip('/')}/route/v1/{profile}/{coords}"
        "?overview=full&geometries=geojson"
    )
    body = _get_json(urllib.request.Request(url))
    return [(lat, lng) for lng, lat in body["routes"][0]["geometry"]["coordinates"]]


def valhalla_shape(origin: LatLng, destination: LatLng, vehicle: str) -> list[LatLng]:
    costing = {"bike": "bicycle", "scooter": "motor_scooter", "van": "truck"}.get(vehicle, "auto")
    payload = {
        "locations": [
            {"lat": origin[0], "lon": origin[1]},
            {"lat": destination[0], "lon": destination[1]},
        ],
        "costing": costing,
    }
    request = urllib.request.Request(
        f"{settings.ROUTER_URL.rstrip('/')}/route",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    body = _get_json(request)
    points: list[LatLng] = []
    for leg in body["trip"]["legs"]:
        points += decode_polyline(leg["shape"], precision=6)
    return points


def decode_polyline(encoded: str, *, precision: int = 6) -> list[LatLng]:
    """Google's encoded polyline format (Valhalla uses six decimal places)."""
    points: list[LatLng] = []
    index = lat = lng = 0
    factor = 10**precision
    while index < len(encoded):
        deltas = []
        for _ in range(2):
            shift = result = 0
            while True:
                byte = ord(encoded[index]) - 63
                index += 1
                result |= (byte & 0x1F) << shift
                shift += 5
                if byte < 0x20:
                    break
            deltas.append(~(result >> 1) if result & 1 else result >> 1)
        lat += deltas[0]
        lng += deltas[1]
        points.append((lat / factor, lng / factor))
    return points
