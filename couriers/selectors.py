"""Reads about couriers: who can take a job near a point and how they rank; live state."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import connection
from django.utils import timezone

from couriers import hooks
from couriers.locations import CourierTrack, LocationFix
from couriers.models import CAPACITY_RANK, Capacity, Courier, CourierStatus, LocationPing
from marketplace.eta import straight_line_seconds
from marketplace.sqlcache import RowReader

# Two index probes on the partial GiST index courier_matchable_point_gist:
#
# 1. KNN (`ORDER BY current_point <-> point LIMIT k`) finds the k nearest matchable
#    couriers. For geography, `<->` is the distance on a sphere, which differs from the
#    WGS 84 spheroid by up to 0.56 % depending on direction (N-S vs E-W), so two couriers
#    a few metres apart in distance can swap places: k nearest on the sphere is not always
#    k nearest on the spheroid.
# 2. The k-th nearest on the spheroid is no farther than the farthest of those k (call it
#    G), and a spheroid distance is never below 0.9944 x the sphere distance, so every
#    true answer lies within G / 0.99 on the sphere: an ST_DWithin (index) range scan of
#    that circle, capped at the radius, then exact spheroid distances, nearest first.
#
# Both steps keep the column bare and the point a constant geography literal (casting
# the column would stop the index being used). The circle holds k plus a handful of
# couriers, so this costs about two KNN probes, not the ST_DWithin + ORDER BY ST_Distance
# plan that sorts every courier within the radius. No row locks here: KNN with FOR UPDATE
# fails in PostGIS 3.3 ("attempted to lock invisible tuple"); callers claim couriers by
# primary key afterwards.
_MATCHABLE = """
    status = %(available)s
    AND is_position_trusted
    AND position_recorded_at >= %(fresh_after)s
    AND capacity = ANY(%(fits)s)
    AND is_robo = %(robo)s
    AND NOT (id = ANY(%(exclude)s))
"""
_NEAREST_SQL = f"""
WITH knn AS (
    SELECT current_point
    FROM couriers_courier
    WHERE {_MATCHABLE}
    ORDER BY current_point <-> %(point)s::geography
    LIMIT %(limit)s
), bound AS (
    SELECT LEAST(
        %(radius_m)s::float8,
        COALESCE(MAX(ST_Distance(current_point, %(point)s::geography, true)), 0)
    ) / 0.99 AS sphere_m
    FROM knn
)
SELECT c.*, ST_Distance(c.current_point, %(point)s::geography, true) AS distance_m
FROM couriers_courier c
WHERE {_MATCHABLE}
  AND ST_DWithin(c.current_point, %(point)s::geography, (SELECT sphere_m FROM bound), false)
  AND ST_Distance(c.current_point, %(point)s::geography, true) <= %(radius_m)s
ORDER BY distance_m, c.id
LIMIT %(limit)s
"""


def capacities_that_fit(package_size: str) -> list[str]:
    """Vehicle capacity classes that take a package of ``package_size``."""
    needed = CAPACITY_RANK[Capacity(package_size)]
    return [capacity.value for capacity, rank in CAPACITY_RANK.items() if rank >= needed]


def geography_literal(point: Point) -> str:
    """EWKT for a constant ``::geography`` parameter."""
    return f"SRID=4326;POINT({point.x!r} {point.y!r})"


_MATCHABLE_COUNT_SQL = f"""
SELECT count(*) FROM couriers_courier
WHERE {_MATCHABLE}
  AND ST_DWithin(current_point, %(point)s::geography, %(radius_m)s)
"""


def _matchable_params(
    *,
    point: Point,
    radius_m: float,
    package_size: str,
    sandbox: bool,
    exclude_pks: Collection[int] = (),
) -> dict[str, object]:
    """The parameters of ``_MATCHABLE``: the one definition of a matchable courier.

    Matchable: available (online and idle), with a trusted position reported within
    ``COURIER_STALE_AFTER_SECONDS``, a vehicle that takes ``package_size``, and robo
    exactly when the job is a sandbox shop's (``sandbox``): a sandbox shop's jobs go only
    to robo couriers, and a robo courier is only ever matched with sandbox jobs.
    """
    return {
        "available": CourierStatus.AVAILABLE.value,
        "fresh_after": timezone.now() - timedelta(seconds=settings.COURIER_STALE_AFTER_SECONDS),
        "fits": capacities_that_fit(package_size),
        "robo": bool(sandbox),
        "exclude": list(exclude_pks),
        "point": geography_literal(point),
        "radius_m": radius_m,
    }


# What ranking reads of a courier (``couriers_ranked_for_pickup``): the reserving
# variant returns only these columns; the instances defer the others.
_RANKING_FIELDS = ("id", "vehicle", "rating", "acceptance_rate")
_RANKING_ROW = RowReader(Courier, _RANKING_FIELDS)

# The nearest couriers, each tried for a transaction-level advisory lock (key, courier
# id) in the same statement. The LIMIT inside the subquery keeps the lock calls to the
# rows returned.
_NEAREST_RESERVED_SQL = f"""
SELECT {_RANKING_ROW.columns("n")}, n.distance_m,
       pg_try_advisory_xact_lock(%(lock_key)s, n.id::int) AS is_reserved
FROM ({_NEAREST_SQL}) n
ORDER BY n.distance_m, n.id
"""


def couriers_nearest_available(
    *,
    point: Point,
    radius_m: float,
    package_size: str,
    sandbox: bool,
    limit: int = 10,
    exclude_pks: Collection[int] = (),
    lock_key: int | None = None,
) -> list[Courier]:
    """Up to ``limit`` matchable couriers within ``radius_m`` of ``point``, nearest first.

    Matchable as ``_matchable_params`` says (``sandbox``: for a sandbox shop's job, so
    robo couriers only; otherwise real couriers only). Each courier carries
    ``distance_m`` (metres on the WGS 84 spheroid). With ``lock_key`` the same statement
    tries ``pg_try_advisory_xact_lock(lock_key, id)`` for each courier returned (never
    waiting), ``is_reserved`` says whether this transaction now holds it, and only the
    columns the ranking reads are loaded (the others on first use, one query each).
    """
    params = _matchable_params(
        point=point,
        radius_m=radius_m,
        package_size=package_size,
        sandbox=sandbox,
        exclude_pks=exclude_pks,
    )
    if lock_key is None:
        return list(Courier.objects.raw(_NEAREST_SQL, {**params, "limit": limit}))
    # A dispatch pass, every few milliseconds: only the ranking's columns, read without
    # a RawQuerySet (no courier's point to parse, no per-query column mapping).
    with connection.cursor() as cursor:
        cursor.execute(_NEAREST_RESERVED_SQL, {**params, "limit": limit, "lock_key": lock_key})
        rows = cursor.fetchall()
    couriers = []
    for row in rows:
        courier = _RANKING_ROW.build(row, alias=connection.alias)
        courier.distance_m, courier.is_reserved = row[-2:]
        couriers.append(courier)
    return couriers


def couriers_matchable_count(
    *, point: Point, radius_m: float, package_size: str, sandbox: bool
) -> int:
    """How many couriers dispatch could offer a ``package_size`` parcel within ``radius_m``.

    The same rule as ``couriers_nearest_available`` (surge counts this supply).
    """
    params = _matchable_params(
        point=point, radius_m=radius_m, package_size=package_size, sandbox=sandbox
    )
    with connection.cursor() as cursor:
        cursor.execute(_MATCHABLE_COUNT_SQL, params)
        return cursor.fetchone()[0]


@dataclass(frozen=True)
class RankedCourier:
    courier: Courier
    distance_m: float
    travel_seconds: int
    score: float


def courier_score(*, travel_seconds: float, rating: float, acceptance_rate: float) -> float:
    """Lower is better: travel minutes, stars below 5 and declined share, each weighted.

    With the default weights a courier one minute farther away is worth half a star or a
    third of the acceptance rate.
    """
    return (
        settings.MATCH_WEIGHT_TRAVEL_MINUTES * travel_seconds / 60
        + settings.MATCH_WEIGHT_RATING * (5.0 - rating)
        + settings.MATCH_WEIGHT_ACCEPTANCE * (1.0 - acceptance_rate)
    )


def couriers_ranked_for_pickup(
    *,
    point: Point,
    radius_m: float,
    package_size: str,
    sandbox: bool,
    limit: int = 10,
    exclude_pks: Collection[int] = (),
    lock_key: int | None = None,
) -> list[RankedCourier]:
    """The nearest matchable couriers, best score first (ties: nearer, then lower id).

    ``lock_key``: as ``couriers_nearest_available`` (each courier's ``is_reserved``).
    """
    ranked = []
    for courier in couriers_nearest_available(
        point=point,
        radius_m=radius_m,
        package_size=package_size,
        sandbox=sandbox,
        limit=limit,
        exclude_pks=exclude_pks,
        lock_key=lock_key,
    ):
        travel = straight_line_seconds(courier.distance_m, courier.vehicle)
        score = courier_score(
            travel_seconds=travel,
            rating=float(courier.rating),
            acceptance_rate=courier.acceptance_rate,
        )
        ranked.append(RankedCourier(courier, courier.distance_m, travel, score))
    ranked.sort(key=lambda r: (r.score, r.distance_m, r.courier.pk))
    return ranked


def courier_track_load(*, courier: Courier) -> CourierTrack:
    """Seed plausibility checks from the database: newest fix and last unflagged breadcrumb."""
    reference = (
        LocationPing.objects.filter(courier_id=courier.pk, flag="")
        .order_by("-recorded_at")
        .values_list("point", "recorded_at", "accuracy_m")
        .first()
    )
    return CourierTrack(
        courier_pk=courier.pk,
        vehicle=courier.vehicle,
        latest_recorded_at=courier.position_recorded_at,
        reference=(
            LocationFix(
                lat=reference[0].y,
                lng=reference[0].x,
                recorded_at=reference[1],
                accuracy_m=reference[2],
            )
            if reference
            else None
        ),
    )


@dataclass
class LiveState:
    """What the courier socket keeps per connection so a ping needs no database read."""

    status: str
    active_job_pk: str | None
    track: CourierTrack


def courier_live_state(*, courier_pk: int, track: CourierTrack | None = None) -> LiveState:
    """Status, active job (through ``couriers.hooks``) and, unless given, the track."""
    courier = Courier.objects.only("pk", "status", "vehicle", "position_recorded_at").get(
        pk=courier_pk
    )
    job_pk = hooks.courier_active_job_pk(courier_pk=courier_pk)
    return LiveState(
        status=courier.status,
        active_job_pk=str(job_pk) if job_pk else None,
        track=track or courier_track_load(courier=courier),
    )
