"""The courier's route on a disputed job: breadcrumbs from pickup to delivery as GeoJSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.gis.geos import Point
from django.utils import timezone

from couriers.models import LocationPing
from jobs.models import Job, ProofOfDelivery

# A long trip at one fix a second is a few thousand points; past this many the line is
# thinned evenly (first and last kept) so the page stays light. The count stays exact.
ROUTE_MAX_POINTS = 2000


@dataclass(frozen=True)
class Route:
    """The courier's breadcrumbs from pickup to delivery, and the trip's points.

    ``geojson`` is a FeatureCollection ([lng, lat], WGS 84): a ``breadcrumbs`` LineString
    (when there are two or more fixes) and one Point per ``pickup``, ``dropoff``,
    ``alternate_dropoff`` (the recipient's new place, if any) and ``delivery`` (where the
    courier marked it delivered, if it was).
    """

    started_at: datetime | None
    ended_at: datetime | None
    ping_count: int
    flagged_count: int
    geojson: dict[str, Any]

    @property
    def line(self) -> list[list[float]]:
        for feature in self.geojson["features"]:
            if feature["properties"]["kind"] == "breadcrumbs":
                return feature["geometry"]["coordinates"]
        return []


def route_window(job: Job) -> tuple[datetime | None, datetime | None]:
    """From pickup (or assignment, when it never got that far) to delivery or the job's end."""
    start = job.picked_up_at or job.assigned_at
    if start is None:
        return None, None
    end = job.delivered_at or job.ended_at
    return start, end or timezone.now()


def _thin(coordinates: list[list[float]], limit: int) -> list[list[float]]:
    if len(coordinates) <= limit:
        return coordinates
    step = (len(coordinates) - 1) / (limit - 1)
    return [coordinates[round(index * step)] for index in range(limit)]


def _point_feature(kind: str, point: Point, **properties: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [point.x, point.y]},
        "properties": {"kind": kind, **properties},
    }


def job_route(*, job: Job, proof: ProofOfDelivery | None) -> Route:
    """The courier's breadcrumbs between pickup and delivery (one query; none without a
    courier), ordered by when the device took each fix."""
    start, end = route_window(job)
    rows: list[tuple[Point, datetime, str]] = []
    if job.courier_id is not None and start is not None:
        rows = list(
            LocationPing.objects.filter(
                courier_id=job.courier_id, recorded_at__gte=start, recorded_at__lte=end
            )
            .order_by("recorded_at", "pk")
            .values_list("point", "recorded_at", "flag")
        )
    features: list[dict[str, Any]] = []
    coordinates = [[point.x, point.y] for point, _, _ in rows]
    if len(coordinates) >= 2:
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "LineString",
                    "coordinates": _thin(coordinates, ROUTE_MAX_POINTS),
                },
                "properties": {
                    "kind": "breadcrumbs",
                    "count": len(coordinates),
                    "from": rows[0][1].isoformat(),
                    "to": rows[-1][1].isoformat(),
                },
            }
        )
    features.append(_point_feature("pickup", job.pickup_point, address=job.pickup_address))
    features.append(_point_feature("dropoff", job.dropoff_point, address=job.dropoff_address))
    if job.alternate_point is not None:
        features.append(
            _point_feature("alternate_dropoff", job.alternate_point, address=job.alternate_address)
        )
    if proof is not None and proof.point is not None:
        features.append(
            _point_feature("delivery", proof.point, distance_m=proof.distance_to_dropoff_m)
        )
    return Route(
        started_at=start,
        ended_at=end,
        ping_count=len(rows),
        flagged_count=sum(1 for _, _, flag in rows if flag),
        geojson={"type": "FeatureCollection", "features": features},
    )
