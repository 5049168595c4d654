"""/healthz against the real database, the real Redis and a real django-q2 cluster."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django_q.models import Success
from django_q.tasks import async_task, result

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_healthy_when_database_redis_and_both_clusters_answer(
    client: Client, worker_cluster: subprocess.Popen, webhook_worker_cluster: subprocess.Popen
) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert body["down"] == []
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["database"]["postgis"].startswith("3.")
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["worker"]["ok"] is True
    assert body["checks"]["worker"]["clusters"] == 1
    assert body["checks"]["worker"]["workers"] == 1
    assert body["checks"]["webhook_worker"] == {"ok": True, "clusters": 1, "workers": 1}
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db(transaction=True)
def test_a_task_queued_on_redis_runs_on_the_cluster_and_its_result_is_stored(
    worker_cluster: subprocess.Popen,
) -> None:
    task_id = async_task("math.copysign", 2, -3)

    assert result(task_id, wait=20_000) == -2.0
    assert Success.objects.filter(id=task_id, func="math.copysign").count() == 1


@pytest.mark.django_db
def test_503_naming_both_workers_when_no_cluster_runs(client: Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["worker", "webhook_worker"]
    assert "`python manage.py qcluster`" in body["checks"]["worker"]["error"]
    assert body["checks"]["database"]["ok"] is True


@pytest.mark.django_db
def test_503_naming_the_webhook_worker_when_only_the_main_cluster_runs(
    client: Client, worker_cluster: subprocess.Popen
) -> None:
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["webhook_worker"]
    assert body["checks"]["worker"] == {"ok": True, "clusters": 1, "workers": 1}
    assert (
        "`Q_CLUSTER_NAME=webhooks python manage.py qcluster`"
        in (body["checks"]["webhook_worker"]["error"])
    )


@pytest.mark.django_db
def test_503_naming_the_main_worker_when_only_the_webhook_cluster_runs(
    client: Client, webhook_worker_cluster: subprocess.Popen
) -> None:
    body = client.get("/healthz").json()

    assert body["down"] == ["worker"]
    assert body["checks"]["webhook_worker"]["ok"] is True


@pytest.mark.django_db
def test_503_naming_redis_when_it_is_unreachable(client: Client, settings) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["down"] == ["redis", "worker", "webhook_worker"]
    assert "ConnectionError" in body["checks"]["redis"]["error"]
    assert body["checks"]["worker"]["error"] == "unknown while Redis is down"
    assert body["checks"]["database"]["ok"] is True


def test_health_is_exempt_from_the_https_redirect() -> None:
    assert "^healthz$" in settings.SECURE_REDIRECT_EXEMPT
