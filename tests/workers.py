"""A real django-q2 cluster (``manage.py qcluster``) for tests that are about tasks."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

from marketplace.health import check_worker
from tests.e2e_server import database_url

ROOT = Path(__file__).resolve().parents[1]


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.2) -> bool:
    """Poll ``predicate`` until it is truthy (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def cluster_env(**extra: str) -> dict[str, str]:
    """The environment of a worker on this test slot's database and Redis."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "marketplace.test_settings",
        "DATABASE_URL": database_url(settings.DATABASES["default"]),
        "Q_WORKERS": "1",
        "Q_WEBHOOK_WORKERS": "1",
        **extra,
    }


@contextmanager
def running_cluster(*, cluster: str | None = None, **extra_env: str) -> Iterator[subprocess.Popen]:
    """Start a cluster, wait for its heartbeat, and stop it (waiting for the beat to expire).

    ``cluster`` names an alternative cluster (``settings.WEBHOOK_CLUSTER``); the default is
    the main one. Its log goes to a file, not a pipe: a chatty worker would block on a
    full pipe.
    """
    env = cluster_env(**extra_env)
    env.pop("Q_CLUSTER_NAME", None)
    if cluster is not None:
        env["Q_CLUSTER_NAME"] = cluster
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            if not wait_for(lambda: check_worker(cluster)["ok"] or process.poll() is not None, 30):
                pytest.fail("the django-q2 cluster sent no heartbeat within 30 s")
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(f"qcluster exited: {log.read().decode(errors='replace')[-2000:]}")
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    # Its heartbeat expires 3 s after the last beat.
    wait_for(lambda: not check_worker(cluster)["ok"], 10)
