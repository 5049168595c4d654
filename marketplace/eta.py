"""The ETA engine: travel-time estimates behind one small interface (straight line, OSRM, Valhalla).

``ROUTER=straight_line`` (the default) needs nothing: geodesic distance times a road factor over a
typical speed for the vehicle. ``ROUTER=osrm`` or ``ROUTER=valhalla`` with ``ROUTER_URL``
asks that server, and falls back to the straight line when it cannot answer in time, so a
routing outage slows nothing down and fails no request.
"""

from __future__ import annotations

import json
import logging
import math
import urllib.error
import urllib.request
from functools import cache
from typing import Protocol

from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

_EARTH_RADIUS_M = 6_371_008.8


def haversine_m(a: Point, b: Point) -> float:
    """Great-circle distance in metres (within 0.5 % of the spheroid: fine for ETAs)."""
    lat1, lat2 = math.radians(a.y), math.radians(b.y)
    dlat = lat2 - lat1
    dlng = math.radians(b.x - a.x)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def straight_line_seconds(distance_m: float, vehicle: str) -> int:
    """Seconds to cover ``distance_m`` of straight line by road, at the vehicle's speed."""
    speed = settings.VEHICLE_SPEED_MPS.get(vehicle, settings.VEHICLE_SPEED_MPS["car"])
    return math.ceil(distance_m * settings.ROUTE_ROAD_FACTOR / speed)


class Router(Protocol):
    def eta_seconds(self, origin: Point, destination: Point, *, vehicle: str) -> int:
        """Seconds to travel from ``origin`` to ``destination`` by ``vehicle``."""
        ...


class StraightLineRouter:
    def eta_seconds(self, origin: Point, destination: Point, *, vehicle: str) -> int:
        return straight_line_seconds(haversine_m(origin, destination), vehicle)


class _HttpRouter:
    """Shared plumbing: ask the engine, fall back to the straight line on any failure."""

    fallback = StraightLineRouter()

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def eta_seconds(self, origin: Point, destination: Point, *, vehicle: str) -> int:
        try:
            return self._ask(origin, destination, vehicle)
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            logger.warning("router %s failed (%s); using straight line", self.base_url, exc)
            return self.fallback.eta_seconds(origin, destination, vehicle=vehicle)

    def _get_json(self, request: urllib.request.Request) -> dict:
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.loads(response.read())

    def _ask(self, origin: Point, destination: Point, vehicle: str) -> int:
        raise NotImplementedError


class OsrmRouter(_HttpRouter):
    """OSRM's route service (``/route/v1/{profile}/lng,lat;lng,lat``)."""

    profiles = {"bike": "bike", "scooter": "bike", "car": "car", "van": "car"}

    def _ask(self, origin: Point, destination: Point, vehicle: str) -> int:
        profile = self.profiles.get(vehicle, "car")
        coords = f"{origin.x},{origin.y};{destination.x},{destination.y}"
        url = f"{self.base_url}/route/v1/{profile}/{coords}?overview=false"
        body = self._get_json(urllib.request.Request(url))
        return math.ceil(float(body["routes"][0]["duration"]))


class ValhallaRouter(_HttpRouter):
    """Valhalla's ``/route`` endpoint."""

    costing = {"bike": "bicycle", "scooter": "motor_scooter", "car": "auto", "van": "truck"}

    def _ask(self, origin: Point, destination: Point, vehicle: str) -> int:
        payload = {
            "locations": [
                {"lat": origin.y, "lon": origin.x},
                {"lat": destination.y, "lon": destination.x},
            ],
            "costing": self.costing.get(vehicle, "auto"),
        }
        request = urllib.request.Request(
            f"{self.base_url}/route",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )
        body = self._get_json(request)
        return math.ceil(float(body["trip"]["summary"]["time"]))


@cache
def get_router() -> Router:
    """The configured router (settings ``ROUTER`` and ``ROUTER_URL``)."""
    kind = settings.ROUTER
    if kind == "straight_line":
        return StraightLineRouter()
    engines = {"osrm": OsrmRouter, "valhalla": ValhallaRouter}
    if kind not in engines:
        raise ImproperlyConfigured(
            f"ROUTER={kind!r} is unknown; use straight_line, osrm or valhalla."
        )
    if not settings.ROUTER_URL:
        raise ImproperlyConfigured(f"ROUTER={kind} needs ROUTER_URL, e.g. http://127.0.0.1:5000")
    return engines[kind](settings.ROUTER_URL, settings.ROUTER_TIMEOUT_SECONDS)
