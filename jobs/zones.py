"""A zone's area from text: GeoJSON or WKT in, a valid WGS 84 MultiPolygon out.

Shared by the admin form and ``manage.py zone_import``. GeoJSON is read with
``marketplace.jsonsafe`` and built with GEOS constructors, WKT with GEOS's reader: no GDAL
and no CRS/SRS text is parsed (see gis.W001 in settings).
"""

from __future__ import annotations

import math
from typing import Any

from django.contrib.gis.geos import (
    GeometryCollection,
    GEOSException,
    GEOSGeometry,
    LinearRing,
    MultiPolygon,
    Polygon,
)
from django.core.exceptions import ValidationError

from marketplace import jsonsafe


def _ring(coordinates: Any) -> LinearRing:
    if not isinstance(coordinates, list) or len(coordinates) < 4:
        raise ValidationError("Each ring needs at least 4 positions (the first repeated last).")
    points = []
    for position in coordinates:
        if (
            not isinstance(position, list)
            or len(position) < 2
            or not all(isinstance(n, int | float) and not isinstance(n, bool) for n in position[:2])
        ):
            raise ValidationError("Each position must be [longitude, latitude] numbers.")
        points.append((float(position[0]), float(position[1])))
    if points[0] != points[-1]:
        raise ValidationError("Each ring must end where it starts.")
    return LinearRing(points)


def _polygon(rings: Any) -> Polygon:
    if not isinstance(rings, list) or not rings:
        raise ValidationError("A polygon needs at least one ring.")
    return Polygon(*[_ring(ring) for ring in rings])


def _from_geojson(data: Any) -> MultiPolygon:
    """Polygon, MultiPolygon, a Feature of one, or a FeatureCollection of those (merged)."""
    if not isinstance(data, dict):
        raise ValidationError("GeoJSON must be an object.")
    if "crs" in data:
        raise ValidationError("Leave out 'crs': coordinates are always WGS 84 (EPSG:4326).")
    if data.get("type") == "Feature":
        return _from_geojson(data.get("geometry"))
    if data.get("type") == "FeatureCollection":
        features = data.get("features")
        if not isinstance(features, list) or not features:
            raise ValidationError("A FeatureCollection needs at least one feature.")
        polygons = [p for feature in features for p in _from_geojson(feature)]
        # Districts share borders, which a MultiPolygon may not: merge them into one area.
        merged = GeometryCollection(*polygons, srid=4326).unary_union
        return merged if isinstance(merged, MultiPolygon) else MultiPolygon(merged, srid=4326)
    kind, coordinates = data.get("type"), data.get("coordinates")
    if kind == "Polygon":
        return MultiPolygon(_polygon(coordinates), srid=4326)
    if kind == "MultiPolygon":
        if not isinstance(coordinates, list) or not coordinates:
            raise ValidationError("A MultiPolygon needs at least one polygon.")
        return MultiPolygon(*[_polygon(rings) for rings in coordinates], srid=4326)
    raise ValidationError(f"Expected a Polygon or MultiPolygon, not {kind!r}.")


def _from_wkt(text: str) -> MultiPolygon:
    """POLYGON or MULTIPOLYGON well-known text (optionally SRID=4326;), read by GEOS."""
    upper = text.upper()
    if upper.startswith("SRID="):
        srid_text, _, text = text.partition(";")
        if srid_text.strip().upper() != "SRID=4326":
            raise ValidationError("Only SRID=4326 (WGS 84) is accepted.")
        upper = text.strip().upper()
    if not upper.startswith(("POLYGON", "MULTIPOLYGON")):
        raise ValidationError("Expected GeoJSON, or WKT starting with POLYGON or MULTIPOLYGON.")
    try:
        geometry = GEOSGeometry(text.strip(), srid=4326)
    except (GEOSException, ValueError) as exc:
        raise ValidationError(f"Not valid WKT: {exc}") from None
    if isinstance(geometry, Polygon):
        return MultiPolygon(geometry, srid=4326)
    return geometry


def parse_area(text: str) -> MultiPolygon:
    """A zone area from GeoJSON or WKT text: valid, in range, SRID 4326."""
    text = text.strip()
    if text.startswith("{"):
        try:
            # Staff upload whole districts: no size limit, but the shared depth limit.
            data = jsonsafe.loads(text, max_bytes=len(text.encode("utf-8")))
        except jsonsafe.JSONRejected as exc:
            where = f" (line {exc.lineno})" if exc.lineno else ""
            raise ValidationError(f"Not valid JSON: {exc.msg}{where}.") from None
        area = _from_geojson(data)
    else:
        area = _from_wkt(text)
    if area.empty:
        raise ValidationError("The area is empty.")
    for lng, lat in (coords[:2] for polygon in area.coords for ring in polygon for coords in ring):
        if not (math.isfinite(lng) and math.isfinite(lat)):
            raise ValidationError("Coordinates must be finite numbers.")
        if not (-180 <= lng <= 180 and -90 <= lat <= 90):
            raise ValidationError(
                "Coordinates must be [longitude, latitude] within [-180, 180] and [-90, 90]."
            )
    if not area.valid:
        raise ValidationError(f"The area is not a valid polygon: {area.valid_reason}.")
    return area
