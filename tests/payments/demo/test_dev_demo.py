"""``./dev demo`` end to end: the city comes alive, three moving links appear, Ctrl-C ends it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.conf import settings

from tests.e2e_server import PROJECT_ROOT, database_url, free_port
from tests.test_dev_run import alive, descendants

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LINK = re.compile(r"^\s+(http://127\.0\.0\.1:\d+/t/([A-Za-z0-9_-]+))$", re.MULTILINE)


@pytest.fixture
def dev_demo() -> Iterator[tuple[subprocess.Popen, str, Path]]:
    """``./dev demo`` on the test database and Redis, in its own process group."""
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
        # A small, fast city; the demo's own stand-in on a free port.
        "DEMO_COURIERS": "10",
        "DEMO_SHOPS": "2",
        "DEMO_SPEED": "10",
        "DEMO_JOBS_PER_MINUTE": "60",
        "STRIPE_STANDIN_PORT": str(free_port("127.0.0.1")),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the real settings, as a developer runs them
    env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"  # links on the demo's own port
    for name in ("STRIPE_SECRET_KEY", "STRIPE_API_BASE", "STRIPE_STANDIN"):
        env.pop(name, None)  # no key: ./dev starts its own stand-in, as on a laptop
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        process = subprocess.Popen(
            ["./dev", "demo"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process, f"http://127.0.0.1:{port}", Path(log.name)
        finally:
            if process.poll() is None:
                # The trap stops the worker clusters too (each in its own session).
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def test_dev_demo_prints_moving_links_and_ctrl_c_stops_everything(
    dev_demo: tuple[subprocess.Popen, str, Path],
) -> None:
    process, base_url, log = dev_demo
    deadline = time.monotonic() + 400
    output = ""
    while time.monotonic() < deadline and process.poll() is None:
        output = log.read_text(errors="replace")
        if "Progress      tail -f .demo/simulate.log" in output:
            break
        time.sleep(0.5)
    output = log.read_text(errors="replace")
    assert "The demo city is running (Ctrl-C stops it all)" in output, output[-4000:]

    admin = re.search(r"Admin login   (demo-admin) / (\S+)", output)
    assert admin is not None, output[-3000:]
    shop = re.search(r"Shop token    (\w+)   \((demo-shop-01)\)", output)
    assert shop is not None, output[-3000:]
    jobs = requests.get(
        f"{base_url}/api/v1/jobs/", headers={"Authorization": f"Token {shop[1]}"}, timeout=10
    )
    assert jobs.status_code == 200
    links = LINK.findall(output.split("on their way right now:")[1])
    assert len(links) == 3, output[-3000:]
    assert len({token for _, token in links}) == 3
    for url, token in links:
        assert url.startswith(base_url + "/t/")
        page = requests.get(url, timeout=10)
        assert page.status_code == 200
        view = requests.get(f"{base_url}/api/v1/track/{token}/", timeout=10).json()
        # Printed while the parcel was on its way: picked up then, maybe delivered since.
        assert "picked_up" in [step["step"] for step in view["timeline"]], view
    started = descendants(process.pid)

    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends

    assert process.wait(timeout=60) is not None
    assert [pid for pid in started if alive(pid)] == []
    simulate_log = (PROJECT_ROOT / ".demo" / "simulate.log").read_text()
    assert "Summary after" in simulate_log, simulate_log[-3000:]
    assert "Traceback" not in simulate_log, simulate_log[-3000:]
