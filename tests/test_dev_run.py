"""``./dev run`` end to end: it serves with a worker, and a signal stops everything it started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from tests.e2e_server import PROJECT_ROOT, database_url, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@dataclass
class DevRun:
    process: subprocess.Popen
    base_url: str
    log: Path


def health(base_url: str) -> tuple[int, dict] | None:
    try:
        with urllib.request.urlopen(base_url + "/healthz", timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return None


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the server, the worker cluster and its children)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if not children.exists():
        return []
    direct = [int(child) for child in children.read_text().split()]
    return direct + [grandchild for child in direct for grandchild in descendants(child)]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.fixture
def dev_run() -> Iterator[DevRun]:
    """``./dev run`` on the test database and Redis, in its own process group."""
    port = free_port("127.0.0.1")
    env = {
        **os.environ,
        "DATABASE_URL": database_url(settings.DATABASES["default"]),
        "REDIS_URL": settings.REDIS_URL,
        "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
        "Q_REDIS_URL": settings.Q_REDIS_URL,
        "Q_SITE_NAME": settings.Q_CLUSTER["name"],
        "Q_WORKERS": "1",
        "Q_WEBHOOK_WORKERS": "1",
        "PORT": str(port),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the real settings, as a developer runs them
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        process = subprocess.Popen(
            ["./dev", "run"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        run = DevRun(process, f"http://127.0.0.1:{port}", Path(log.name))
        try:
            yield run
        finally:
            if process.poll() is None:
                # A test that failed early: stop it as an operator would, then make sure.
                # The worker clusters run in sessions of their own, out of the group's reach.
                started = descendants(process.pid)
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                for pid in started:
                    if alive(pid):
                        os.kill(pid, signal.SIGKILL)


def wait_for_line(log: Path, text: str, timeout: float = 20) -> str:
    """The log once ``text`` is in it (the server logs a request after answering it)."""
    deadline = time.monotonic() + timeout
    while True:
        output = log.read_text(errors="replace")
        if text in output or time.monotonic() > deadline:
            return output
        time.sleep(0.1)


def test_dev_run_serves_and_a_group_sigterm_stops_server_and_worker(dev_run: DevRun) -> None:
    deadline = time.monotonic() + 120
    answer = None
    while time.monotonic() < deadline and dev_run.process.poll() is None:
        answer = health(dev_run.base_url)
        if answer and answer[0] == 200:
            break
        time.sleep(0.5)
    output = dev_run.log.read_text(errors="replace")
    assert answer is not None, output[-3000:]
    assert answer[0] == 200, (answer, output[-3000:])
    assert answer[1]["checks"]["worker"]["workers"] == 1
    assert answer[1]["checks"]["webhook_worker"]["workers"] == 1
    assert "scheduling periodic tasks" in output
    # A static file (streamed by WhiteNoise) and the API docs, then the log has no warning.
    with urllib.request.urlopen(dev_run.base_url + "/static/admin/css/base.css") as response:
        assert response.status == 200
        assert len(response.read()) > 1000
    with urllib.request.urlopen(dev_run.base_url + "/api/docs/") as response:
        assert response.status == 200
    output = wait_for_line(dev_run.log, '"GET /api/docs/ HTTP/1.1" 200')
    assert "Warning" not in output, output[-3000:]
    assert "warning" not in output.lower().replace("warning_", ""), output[-3000:]
    started = descendants(dev_run.process.pid)
    assert len(started) >= 7  # uvicorn, two qclusters and each cluster's own processes

    # What `timeout`, service managers and container runtimes do: SIGTERM to the whole
    # process group. django-q2 used to hang for good when its children got it directly.
    os.killpg(dev_run.process.pid, signal.SIGTERM)

    assert dev_run.process.wait(timeout=40) is not None
    assert [pid for pid in started if alive(pid)] == []
