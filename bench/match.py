"""Match latency: K=10 within 5 km among 10k, 100k and 1M online couriers, vs. the baseline.

Run: .venv/bin/python -m bench.match [--sizes 10000,100000,1000000] [--queries 500]
     [--baseline-queries 100]

For each size: bulk-load couriers uniformly over a 44 x 37 km city box (bench database
only), then time the selector's SQL and the baseline (ST_DWithin + ORDER BY ST_Distance)
at the same random pickup points: server-side execution time (EXPLAIN ANALYZE) and the
round trip through ``couriers_nearest_available`` from Python.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from bench import common

K = 10
RADIUS_M = 5000

# The previous selector: one KNN probe, ordered on the sphere (can swap near-equal couriers).
KNN_ONLY_SQL = """
WITH nearest AS (
    SELECT id
    FROM couriers_courier
    WHERE status = %(available)s
      AND is_position_trusted
      AND position_recorded_at >= %(fresh_after)s
      AND capacity = ANY(%(fits)s)
      AND NOT (id = ANY(%(exclude)s))
    ORDER BY current_point <-> %(point)s::geography
    LIMIT %(limit)s
)
SELECT c.*, ST_Distance(c.current_point, %(point)s::geography, true) AS distance_m
FROM nearest JOIN couriers_courier c USING (id)
WHERE ST_Distance(c.current_point, %(point)s::geography, true) <= %(radius_m)s
ORDER BY distance_m, c.id
"""

BASELINE_SQL = """
SELECT c.*, ST_Distance(c.current_point, %(point)s::geography, true) AS distance_m
FROM couriers_courier c
WHERE status = %(available)s
  AND is_position_trusted
  AND position_recorded_at >= %(fresh_after)s
  AND capacity = ANY(%(fits)s)
  AND NOT (id = ANY(%(exclude)s))
  AND ST_DWithin(c.current_point, %(point)s::geography, %(radius_m)s)
ORDER BY ST_Distance(c.current_point, %(point)s::geography, true), c.id
LIMIT %(limit)s
"""


def pickup_points(count: int, seed: int = 7) -> list[tuple[float, float]]:
    """Random pickups in the inner part of the box (5 km from its edges)."""
    west, south, east, north = common.CITY_BOX
    rng = random.Random(seed)
    return [
        (rng.uniform(west + 0.075, east - 0.075), rng.uniform(south + 0.045, north - 0.045))
        for _ in range(count)
    ]


def server_ms(cursor, sql: str, params: dict) -> tuple[float, float]:
    """(planning + execution, execution) milliseconds, from EXPLAIN ANALYZE."""
    cursor.execute("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + sql, params)
    (plan,) = cursor.fetchone()
    plan = plan if isinstance(plan, list) else json.loads(plan)
    return plan[0]["Planning Time"] + plan[0]["Execution Time"], plan[0]["Execution Time"]


VARIANTS = {
    "selector": None,  # couriers.selectors._NEAREST_SQL, filled in at run time
    "knn_only": KNN_ONLY_SQL,
    "baseline": BASELINE_SQL,
    "baseline_nojit": BASELINE_SQL,
}


def run_size(size: int, queries: int, baseline_queries: int) -> dict:
    from datetime import timedelta

    from django.contrib.gis.geos import Point
    from django.db import connection
    from django.utils import timezone

    from couriers.selectors import (
        _NEAREST_SQL,
        capacities_that_fit,
        couriers_nearest_available,
        geography_literal,
    )

    print(f"== {size:,} online couriers", flush=True)
    common.truncate_couriers()
    common.bulk_load_couriers(size)
    points = pickup_points(queries)
    sqls = {**VARIANTS, "selector": _NEAREST_SQL}
    results: dict[str, list[float]] = {}
    found_counts = []
    with connection.cursor() as cursor:
        for i, (lng, lat) in enumerate(points):
            params = {
                "available": "available",
                "fresh_after": timezone.now() - timedelta(seconds=120),
                "fits": capacities_that_fit("small"),
                "robo": False,
                "exclude": [],
                "point": geography_literal(Point(lng, lat, srid=4326)),
                "limit": K,
                "radius_m": RADIUS_M,
            }
            timings = {}
            with_baseline = i < 20 + baseline_queries
            for name, sql in sqls.items():
                if name.startswith("baseline") and not with_baseline:
                    continue
                cursor.execute("SET jit = off" if name.endswith("nojit") else "RESET jit")
                timings[f"{name}_db"], timings[f"{name}_exec"] = server_ms(cursor, sql, params)
            cursor.execute("RESET jit")
            started = time.perf_counter()
            found = couriers_nearest_available(
                point=Point(lng, lat, srid=4326),
                radius_m=RADIUS_M,
                package_size="small",
                sandbox=False,
                limit=K,
            )
            timings["selector_py"] = (time.perf_counter() - started) * 1000
            if with_baseline:
                started = time.perf_counter()
                cursor.execute(BASELINE_SQL, params)
                baseline_rows = cursor.fetchall()
                timings["baseline_py"] = (time.perf_counter() - started) * 1000
                # Same answer as the baseline (distance is the last column), or the bench is void.
                assert [round(c.distance_m, 3) for c in found] == [
                    round(row[-1], 3) for row in baseline_rows
                ], "selector and baseline disagree"
            if i < 20:  # warm-up
                continue
            found_counts.append(len(found))
            for name, value in timings.items():
                results.setdefault(name, []).append(value)
    stats = {name: common.summary(values) for name, values in results.items()}
    stats["found_min"] = min(found_counts)
    for name, s in stats.items():
        if isinstance(s, dict):
            print(f"  {name:20s} p50 {s['p50']:8.3f} ms  p99 {s['p99']:8.3f} ms", flush=True)
    print(f"  every query found {stats['found_min']}+ couriers", flush=True)
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument(
        "--baseline-queries",
        type=int,
        default=100,
        help="time the (slow) baseline at only the first N pickups",
    )
    args = parser.parse_args()
    common.setup()
    print(common.machine(), flush=True)
    table = []
    for size in (int(s) for s in args.sizes.split(",")):
        table.append((size, run_size(size, args.queries, args.baseline_queries)))
    print(
        "\n| couriers | selector p50 / p99 (DB: plan + exec) | selector exec only "
        "| KNN only (previous) | baseline | baseline, jit off | ratio vs baseline p50 / p99 "
        "| ratio vs baseline jit off | selector / baseline from Python p50 / p99 |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def pair(s: dict, name: str) -> str:
        return f"{s[name]['p50']:.3f} / {s[name]['p99']:.3f} ms"

    for size, s in table:
        ratio = s["baseline_db"]["p50"] / s["selector_db"]["p50"]
        ratio99 = s["baseline_db"]["p99"] / s["selector_db"]["p99"]
        nojit = s["baseline_nojit_db"]["p50"] / s["selector_db"]["p50"]
        nojit99 = s["baseline_nojit_db"]["p99"] / s["selector_db"]["p99"]
        print(
            f"| {size:,} | {pair(s, 'selector_db')} | {pair(s, 'selector_exec')} "
            f"| {pair(s, 'knn_only_db')} | {pair(s, 'baseline_db')} "
            f"| {pair(s, 'baseline_nojit_db')} | {ratio:.0f}x / {ratio99:.0f}x "
            f"| {nojit:.0f}x / {nojit99:.0f}x "
            f"| {pair(s, 'selector_py')} vs {pair(s, 'baseline_py')} |"
        )
    common.truncate_couriers()


if __name__ == "__main__":
    main()
