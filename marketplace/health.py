"""/healthz: is the database (with PostGIS), Redis and the task worker cluster up?"""

from __future__ import annotations

import time
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django_q.brokers import get_broker
from django_q.status import Stat

REDIS_TIMEOUT_SECONDS = 2


def check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT postgis_lib_version()")
            (postgis_version,) = cursor.fetchone()
    except DatabaseError as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}".strip()}
    return {"ok": True, "postgis": postgis_version}


def check_redis() -> dict[str, Any]:
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
    )
    try:
        started = time.perf_counter()
        client.ping()
        return {"ok": True, "ping_ms": round((time.perf_counter() - started) * 1000, 2)}
    except redis.RedisError as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        client.close()


def check_worker() -> dict[str, Any]:
    """django-q2 clusters publish a stat to Redis every cycle; it expires after 3 s."""
    try:
        clusters = Stat.get_all(broker=get_broker())
    except redis.RedisError as exc:
        return {"ok": False, "error": f"cannot read worker heartbeat: {exc}"}
    if not clusters:
        return {
            "ok": False,
            "error": "no django-q2 cluster is running; start one with "
            "`python manage.py qcluster` (./dev run does this)",
        }
    return {
        "ok": True,
        "clusters": len(clusters),
        "workers": sum(len(stat.workers) for stat in clusters),
    }


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when everything answers; 503 with ``down`` naming what does not."""
    checks = {"database": check_database(), "redis": check_redis()}
    # The heartbeat lives in Redis: with Redis down the worker's state is unknown.
    checks["worker"] = (
        check_worker()
        if checks["redis"]["ok"]
        else {"ok": False, "error": "unknown while Redis is down"}
    )
    down = [name for name, result in checks.items() if not result["ok"]]
    return JsonResponse(
        {"status": "down" if down else "ok", "down": down, "checks": checks},
        status=503 if down else 200,
    )
