"""Shared benchmark plumbing: a dedicated database, Django setup, bulk loading, statistics.

Benchmarks never touch the dev database's data: they run against ``bench_marketplace``
(created and migrated on first use, on the same server as DATABASE_URL) and Redis
database 9 (``BENCH_REDIS_URL``).
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = os.environ.get("BENCH_DB", "bench_marketplace")
BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")

# A city-sized box around Berlin: 13.1 to 13.75 E, 52.35 to 52.68 N (~44 x 37 km).
CITY_BOX = (13.1, 52.35, 13.75, 52.68)


def bench_environment() -> dict[str, str]:
    """Environment for this process and any server it starts: production-like settings."""
    return {
        "DJANGO_SETTINGS_MODULE": "marketplace.settings",
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-only-secret-" + "x" * 40,
        "SECURE_SSL_REDIRECT": "false",
        "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
        "REDIS_URL": BENCH_REDIS_URL,
        "REDIS_KEY_PREFIX": "bench",
        "Q_SITE_NAME": "marketplace-bench",
        # The ingestion benchmark floods sockets on purpose: measure throughput, not the limit.
        "WS_RATE_PER_SECOND": "0",
    }


def setup(name: str = BENCH_DB) -> None:
    """Point Django at database ``name`` (created and migrated if needed) and set it up."""
    os.environ.update(bench_environment())
    sys.path.insert(0, str(ROOT))
    import django
    import psycopg

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    database = settings.DATABASES["default"]
    admin = psycopg.connect(
        dbname=database["NAME"],
        user=database.get("USER") or None,
        password=database.get("PASSWORD") or None,
        host=database.get("HOST") or None,
        port=database.get("PORT") or None,
        autocommit=True,
    )
    with admin:
        query = "SELECT 1 FROM pg_database WHERE datname = %s"
        exists = admin.execute(query, [name]).fetchone()
        if not exists:
            print(f"creating database {name}", flush=True)
            admin.execute(f'CREATE DATABASE "{name}"')
    database["NAME"] = name
    os.environ["DATABASE_URL"] = database_url(database)
    call_command("migrate", verbosity=0)


def database_url(database: dict[str, Any]) -> str:
    from tests.e2e_server import database_url as url

    return url(database)


def bulk_load_couriers(
    total: int,
    *,
    batch: int = 100_000,
    status: str = "available",
    recorded_at_sql: str = "now() + interval '1 day'",
) -> None:
    """Insert ``total`` couriers (and their users) spread uniformly over CITY_BOX with
    INSERT ... SELECT generate_series, ``batch`` rows per statement, printing progress.

    Positions are stamped ``recorded_at_sql``: by default a day ahead, so they stay fresh
    (matchable) however long the load and the run take.
    """
    from django.db import connection

    west, south, east, north = CITY_BOX
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM marketplace_user")
        (offset,) = cursor.fetchone()
        done = 0
        while done < total:
            n = min(batch, total - done)
            cursor.execute(
                f"""
                WITH u AS (
                    INSERT INTO marketplace_user (password, is_superuser, username, first_name,
                        last_name, email, is_staff, is_active, date_joined, phone)
                    SELECT '!', false, 'bench' || (%(offset)s + g), '', '', '', false, true,
                        now(), ''
                    FROM generate_series(1, %(n)s) g
                    RETURNING id
                )
                INSERT INTO couriers_courier (vehicle, capacity, status, current_point,
                    last_seen_at, rating, created_at, updated_at, user_id, acceptance_rate,
                    is_position_trusted, position_accuracy_m, position_recorded_at)
                SELECT (ARRAY['bike', 'scooter', 'car', 'van'])[1 + id %% 4],
                    (ARRAY['small', 'medium', 'large', 'xl'])[1 + id %% 4],
                    %(status)s,
                    ST_SetSRID(ST_MakePoint(%(west)s + random() * %(dx)s,
                                            %(south)s + random() * %(dy)s), 4326)::geography,
                    now(), 4 + random(), now(), now(), id, random(), true, 5,
                    {recorded_at_sql}
                FROM u
                """,
                {
                    "offset": offset + done,
                    "n": n,
                    "status": status,
                    "west": west,
                    "south": south,
                    "dx": east - west,
                    "dy": north - south,
                },
            )
            done += n
            rate = done / (time.perf_counter() - started)
            print(f"  loaded {done:,}/{total:,} couriers ({rate:,.0f} rows/s)", flush=True)
        cursor.execute("VACUUM ANALYZE couriers_courier")


def truncate_couriers() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE couriers_locationping, couriers_courier, authtoken_token, "
            "marketplace_user CASCADE"
        )


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "mean": statistics.fmean(values) if values else float("nan"),
    }


def machine() -> str:
    """nproc, CPU model, RAM and server versions, for BENCHMARKS.md."""
    from django.db import connection

    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as info:
        ram_gb = int(info.readline().split()[1]) / 1024 / 1024
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        (pg,) = cursor.fetchone()
        cursor.execute("SELECT postgis_lib_version()")
        (postgis,) = cursor.fetchone()
    try:
        redis_version = (
            subprocess.run(
                ["redis-server", "--version"], capture_output=True, text=True, check=False
            )
            .stdout.split()[2]
            .removeprefix("v=")
        )
    except (OSError, IndexError):
        redis_version = "unknown"
    return (
        f"{os.cpu_count()} cores ({cpu}), {ram_gb:.0f} GB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, PostgreSQL {pg}, "
        f"PostGIS {postgis}, Redis {redis_version}"
    )
