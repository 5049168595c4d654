"""Matching selectors: exact against a brute-force spheroid oracle, on the index, scored."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from couriers.models import Courier, CourierStatus, Vehicle
from couriers.selectors import (
    _NEAREST_SQL,
    capacities_that_fit,
    couriers_nearest_available,
    couriers_ranked_for_pickup,
    geography_literal,
)
from tests.couriers.conftest import online_courier
from tests.factories import CourierFactory, UserFactory

pytestmark = pytest.mark.django_db

CENTER = Point(13.4, 52.5, srid=4326)

_ORACLE_SQL = """
SELECT id, ST_Distance(current_point, %(point)s::geography, true) AS d
FROM couriers_courier
WHERE status = 'available' AND is_position_trusted AND position_recorded_at >= %(fresh_after)s
  AND capacity = ANY(%(fits)s) AND NOT is_robo AND NOT (id = ANY(%(exclude)s))
ORDER BY d, id
"""


def oracle(point: Point, radius_m: float, package_size: str, exclude: list[int]) -> list:
    """Every matchable courier's exact spheroid distance, by brute force (no index)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(
            _ORACLE_SQL,
            {
                "point": geography_literal(point),
                "fresh_after": timezone.now() - timedelta(seconds=120),
                "fits": capacities_that_fit(package_size),
                "exclude": exclude,
            },
        )
        rows = [(pk, d) for pk, d in cursor.fetchall() if d <= radius_m]
        cursor.execute("RESET enable_indexscan")
        cursor.execute("RESET enable_bitmapscan")
    return rows


_users = iter(range(10**9))

courier_rows = st.lists(
    st.tuples(
        st.floats(-0.05, 0.05),  # degrees of longitude from the centre (~3.4 km)
        st.floats(-0.03, 0.03),  # degrees of latitude (~3.3 km)
        st.sampled_from(["available", "available", "available", "busy", "offline"]),
        st.booleans(),  # trusted (mostly)
        st.sampled_from(["small", "medium", "large", "xl"]),
    ),
    max_size=25,
)


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=courier_rows,
    query=st.tuples(st.floats(-0.05, 0.05), st.floats(-0.03, 0.03)),
    radius_m=st.floats(100, 8000),
    limit=st.integers(1, 8),
    package_size=st.sampled_from(["small", "medium", "large", "xl"]),
    exclude_first=st.booleans(),
)
def test_nearest_matches_a_brute_force_spheroid_oracle(
    rows: list, query: tuple, radius_m: float, limit: int, package_size: str, exclude_first: bool
) -> None:
    Courier.objects.all().delete()
    now = timezone.now()
    users = UserFactory.build_batch(len(rows))
    for user in users:
        user.username = f"match{next(_users)}"
    users = type(users[0]).objects.bulk_create(users) if users else []
    couriers = Courier.objects.bulk_create(
        Courier(
            user=user,
            vehicle="bike",
            capacity=capacity,
            status=status,
            current_point=Point(CENTER.x + dx, CENTER.y + dy, srid=4326),
            position_recorded_at=now,
            is_position_trusted=trusted or status != "available",
        )
        for user, (dx, dy, status, trusted, capacity) in zip(users, rows, strict=True)
    )
    exclude = [couriers[0].pk] if exclude_first and couriers else []
    point = Point(CENTER.x + query[0], CENTER.y + query[1], srid=4326)

    found = couriers_nearest_available(
        point=point,
        radius_m=radius_m,
        package_size=package_size,
        sandbox=False,
        limit=limit,
        exclude_pks=exclude,
    )
    expected = oracle(point, radius_m, package_size, exclude)

    assert len(found) == min(limit, len(expected))
    assert [c.distance_m for c in found] == pytest.approx(
        [d for _, d in expected[:limit]], abs=1e-6
    )
    if found:
        # Ties within a metre of the last place may go either way; everyone nearer must be in.
        cutoff = found[-1].distance_m - 1.0
        assert {pk for pk, d in expected if d < cutoff} <= {c.pk for c in found}


def test_nearest_on_the_spheroid_even_when_the_sphere_orders_them_the_other_way() -> None:
    # East of the centre: 5415.3 m on the sphere, 5432.8 m on the spheroid. North: 5420.0 m
    # on the sphere but 5424.0 m on the spheroid, so north is the nearer courier.
    east = online_courier(current_point=Point(13.48, 52.5, srid=4326))
    north = online_courier(current_point=Point(13.4, 52.548743, srid=4326))

    found = couriers_nearest_available(
        point=CENTER, radius_m=6000, package_size="small", sandbox=False, limit=1
    )

    assert [c.pk for c in found] == [north.pk]
    assert found[0].distance_m == pytest.approx(5424.0, abs=1)
    assert east.pk != north.pk


def bulk_load(count: int) -> None:
    """``count`` matchable couriers (plus as many offline) over a 30 x 28 km box, in SQL."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH u AS (
                INSERT INTO marketplace_user (password, is_superuser, username, first_name,
                    last_name, email, is_staff, is_active, date_joined, phone)
                SELECT '!', false, 'bulk' || g, '', '', '', false, true, now(), ''
                FROM generate_series(1, %(n)s) g
                RETURNING id
            )
            INSERT INTO couriers_courier (vehicle, capacity, status, current_point,
                last_seen_at, rating, created_at, updated_at, user_id, acceptance_rate,
                is_position_trusted, position_accuracy_m, position_recorded_at)
            SELECT 'bike', 'small', CASE WHEN id %% 2 = 0 THEN 'available' ELSE 'offline' END,
                ST_SetSRID(ST_MakePoint(13.2 + random() * 0.44, 52.4 + random() * 0.25),
                           4326)::geography,
                now(), 5, now(), now(), id, 1, true, 5, now()
            FROM u
            """,
            {"n": count * 2},
        )
        cursor.execute("ANALYZE couriers_courier")


def test_the_query_uses_the_partial_gist_index_for_both_probes() -> None:
    bulk_load(5000)
    params = {
        "available": "available",
        "fresh_after": timezone.now() - timedelta(seconds=120),
        "fits": ["small", "medium", "large", "xl"],
        "robo": False,
        "exclude": [],
        "point": geography_literal(CENTER),
        "limit": 10,
        "radius_m": 5000,
    }
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + _NEAREST_SQL, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert plan.count("courier_matchable_point_gist") == 2, plan
    assert "Seq Scan" not in plan, plan
    found = couriers_nearest_available(
        point=CENTER, radius_m=5000, package_size="small", sandbox=False
    )
    assert len(found) == 10
    assert all(c.status == "available" for c in found)


@pytest.mark.parametrize(
    ("overrides", "query"),
    [
        ({"status": CourierStatus.OFFLINE}, {}),
        ({"status": CourierStatus.BUSY}, {}),
        ({"position_recorded_at": timezone.now() - timedelta(seconds=121)}, {}),
        ({"is_position_trusted": False}, {}),
        ({"vehicle": "bike", "capacity": "small"}, {"package_size": "medium"}),
        ({}, {"radius_m": 600}),  # the courier is ~670 m away
        ({}, {"exclude": True}),
        ({"is_robo": True}, {}),  # a robo courier never gets a real shop's job
    ],
)
def test_each_filter_leaves_out_the_courier(overrides: dict, query: dict) -> None:
    kept = online_courier(current_point=Point(13.4, 52.5, srid=4326), vehicle="van", capacity="xl")
    left_out = online_courier(current_point=Point(13.41, 52.5, srid=4326), **overrides)
    kwargs = {
        "point": Point(13.4, 52.5, srid=4326),
        "radius_m": 3000,
        "package_size": "small",
        "sandbox": False,
    }
    if query.pop("exclude", False):
        kwargs["exclude_pks"] = [left_out.pk]
    kwargs.update(query)

    found = couriers_nearest_available(**kwargs)

    assert [c.pk for c in found] == [kept.pk]
    assert found[0].distance_m == 0


def test_a_sandbox_job_is_matched_with_robo_couriers_only() -> None:
    real = online_courier(current_point=Point(13.4, 52.5, srid=4326))
    robo = online_courier(current_point=Point(13.41, 52.5, srid=4326), is_robo=True)
    kwargs = {"point": CENTER, "radius_m": 3000, "package_size": "small"}

    assert [c.pk for c in couriers_nearest_available(**kwargs, sandbox=True)] == [robo.pk]
    assert [c.pk for c in couriers_nearest_available(**kwargs, sandbox=False)] == [real.pk]
    assert [r.courier.pk for r in couriers_ranked_for_pickup(**kwargs, sandbox=True)] == [robo.pk]
    from couriers.selectors import couriers_matchable_count

    assert couriers_matchable_count(**kwargs, sandbox=True) == 1
    assert couriers_matchable_count(**kwargs, sandbox=False) == 1
    Courier.objects.filter(pk=real.pk).update(is_robo=True)
    assert couriers_matchable_count(**kwargs, sandbox=True) == 2
    assert couriers_matchable_count(**kwargs, sandbox=False) == 0


def test_the_filters_alone_do_not_leave_anyone_out() -> None:
    near = online_courier(current_point=Point(13.4, 52.5, srid=4326))
    far = online_courier(current_point=Point(13.41, 52.5, srid=4326))

    found = couriers_nearest_available(
        point=CENTER, radius_m=3000, package_size="small", sandbox=False
    )

    assert [c.pk for c in found] == [near.pk, far.pk]
    assert found[1].distance_m == pytest.approx(679.3, abs=1)


def test_ranking_weighs_travel_rating_and_acceptance_by_the_settings(settings) -> None:
    near_poor = online_courier(current_point=Point(13.4, 52.509, srid=4326), rating=Decimal("3"))
    far_good = online_courier(current_point=Point(13.4, 52.5135, srid=4326))
    kwargs = {"point": CENTER, "radius_m": 5000, "package_size": "small", "sandbox": False}

    ranked = couriers_ranked_for_pickup(**kwargs)

    assert [r.courier.pk for r in ranked] == [far_good.pk, near_poor.pk]
    for r in ranked:
        expected = r.travel_seconds / 60 + 2.0 * (5 - float(r.courier.rating))
        assert r.score == pytest.approx(expected)
    assert ranked[1].travel_seconds == 290  # ceil(1001.5 m * 1.3 / 4.5 m/s)

    settings.MATCH_WEIGHT_RATING = 0.0
    assert [r.courier.pk for r in couriers_ranked_for_pickup(**kwargs)] == [
        near_poor.pk,
        far_good.pk,
    ]

    settings.MATCH_WEIGHT_RATING = 2.0
    settings.MATCH_WEIGHT_ACCEPTANCE = 50.0
    Courier.objects.filter(pk=far_good.pk).update(acceptance_rate=0.5)
    assert [r.courier.pk for r in couriers_ranked_for_pickup(**kwargs)] == [
        near_poor.pk,
        far_good.pk,
    ]


def test_the_matchable_count_is_the_nearest_selectors_rule_counted(db) -> None:
    from couriers.selectors import couriers_matchable_count, couriers_nearest_available

    here = Point(13.4132, 52.5219, srid=4326)
    now = timezone.now()
    fresh = {
        "status": CourierStatus.AVAILABLE,
        "current_point": Point(13.4150, 52.5230, srid=4326),
        "position_recorded_at": now,
        "last_seen_at": now,
        "is_position_trusted": True,
    }
    CourierFactory(**fresh, vehicle=Vehicle.BIKE)
    CourierFactory(**fresh, vehicle=Vehicle.CAR)
    CourierFactory(**fresh, vehicle=Vehicle.VAN)
    CourierFactory(**{**fresh, "status": CourierStatus.BUSY}, vehicle=Vehicle.VAN)
    CourierFactory(**{**fresh, "is_position_trusted": False}, vehicle=Vehicle.VAN)
    CourierFactory(**{**fresh, "position_recorded_at": now - timedelta(hours=1)})
    CourierFactory(**{**fresh, "current_point": Point(13.60, 52.60, srid=4326)})

    for size, expected in [("small", 3), ("medium", 2), ("large", 2), ("xl", 1)]:
        nearest = couriers_nearest_available(
            point=here, radius_m=3000, package_size=size, sandbox=False, limit=100
        )
        assert len(nearest) == expected, size
        assert (
            couriers_matchable_count(point=here, radius_m=3000, package_size=size, sandbox=False)
            == expected
        )
