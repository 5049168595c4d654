"""/healthz: are the database (with PostGIS), Redis and both task worker clusters up?"""

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


def _ping(url: str) -> dict[str, Any]:
    client = redis.Redis.from_url(
        url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
    )
    try:
        started = time.perf_counter()
        client.ping()
        return {"ok": True, "ping_ms": round((time.perf_counter() - started) * 1000, 2)}
    except redis.RedisError as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        client.close()


def check_redis() -> dict[str, Any]:
    """The cache/channel-layer database and the task queue's database both answer."""
    cache = _ping(settings.REDIS_URL)
    if not cache["ok"]:
        return cache
    queue = _ping(settings.Q_REDIS_URL)
    if not queue["ok"]:
        return {"ok": False, "error": f"task queue (Q_REDIS_URL): {queue['error']}"}
    return cache


def main_queue() -> str:
    return settings.Q_CLUSTER["name"]


def check_worker(queue: str | None = None) -> dict[str, Any]:
    """Is a cluster serving ``queue`` (default: the main one) running?

    django-q2 clusters publish a stat to Redis every cycle; it expires after 3 s. Our
    broker writes, beside each, the queue that cluster serves.
    """
    queue = queue or main_queue()
    try:
        broker = get_broker()
        stats = Stat.get_all(broker=broker)
        queues = broker.cluster_queues()
    except redis.RedisError as exc:
        return {"ok": False, "error": f"cannot read worker heartbeat: {exc}"}
    clusters = [stat for stat in stats if queues.get(str(stat.cluster_id)) == queue]
    if not clusters:
        if queue == main_queue():
            what, how = "the main task queue", "`python manage.py qcluster`"
        else:
            what, how = (
                f"the {queue!r} queue",
                f"`Q_CLUSTER_NAME={queue} python manage.py qcluster`",
            )
        return {
            "ok": False,
            "error": f"no django-q2 cluster serves {what}; start one with {how} "
            "(./dev run does this)",
        }
    return {
        "ok": True,
        "clusters": len(clusters),
        "workers": sum(len(stat.workers) for stat in clusters),
    }


def payments_gateway() -> dict[str, Any]:
    """Which Stripe the payments app talks to, from settings alone (no network call)."""
    key = settings.STRIPE_SECRET_KEY
    if not key:
        return {"gateway": "none", "note": "STRIPE_SECRET_KEY is not set"}
    if settings.STRIPE_STANDIN:
        return {
            "gateway": "standin",
            "api_base": settings.STRIPE_API_BASE,
            "note": "Stripe test stand-in: no real money moves",
        }
    return {"gateway": "stripe", "mode": "test" if "_test_" in key else "live"}


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when everything answers; 503 with ``down`` naming what does not."""
    checks = {"database": check_database(), "redis": check_redis()}
    # The heartbeats live in Redis: with Redis down the workers' state is unknown.
    for name, queue in (("worker", None), ("webhook_worker", settings.WEBHOOK_CLUSTER)):
        checks[name] = (
            check_worker(queue)
            if checks["redis"]["ok"]
            else {"ok": False, "error": "unknown while Redis is down"}
        )
    down = [name for name, result in checks.items() if not result["ok"]]
    return JsonResponse(
        {
            "status": "down" if down else "ok",
            "down": down,
            "checks": checks,
            "payments": payments_gateway(),
        },
        status=503 if down else 200,
    )
