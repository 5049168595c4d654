"""Running the stand-in: ``manage.py stripe_standin``, ``./dev run`` without a key, /healthz."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from payments.gateway import StripeGateway
from tests.e2e_server import PROJECT_ROOT, database_url, free_port
from tests.workers import wait_for


def _get_json(url: str) -> tuple[int, dict] | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return None


def _env_without_stripe(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("STRIPE_")}
    return {**env, **extra}


def test_healthz_names_the_standin(client: Client, db: None) -> None:
    body = client.get("/healthz").json()
    assert body["payments"] == {
        "gateway": "standin",
        "api_base": settings.STRIPE_API_BASE,
        "note": "Stripe test stand-in: no real money moves",
    }


def test_healthz_names_real_stripe_and_its_mode(client: Client, db: None, settings: Any) -> None:
    settings.STRIPE_STANDIN = False
    settings.STRIPE_SECRET_KEY = "sk_test_123"
    assert client.get("/healthz").json()["payments"] == {"gateway": "stripe", "mode": "test"}
    settings.STRIPE_SECRET_KEY = ""
    assert client.get("/healthz").json()["payments"]["gateway"] == "none"


def test_the_management_command_serves_until_sigterm() -> None:
    port = free_port("127.0.0.1")
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "stripe_standin",
            "--port",
            str(port),
            "--api-key",
            "sk_test_cmd",
        ],
        cwd=PROJECT_ROOT,
        env=_env_without_stripe(DJANGO_SETTINGS_MODULE="marketplace.test_settings"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_for(lambda: _get_json(f"{base}/_standin/health") is not None, 30)
        gateway = StripeGateway(api_key="sk_test_cmd", api_base=base)
        customer = gateway.customer_create(email="a@b.c", metadata={}, idempotency_key="k")
        assert customer.startswith("cus_")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        output = process.stdout.read().decode() if process.stdout else ""
        assert f"Stripe test stand-in listening on {base}" in output
        assert _get_json(f"{base}/_standin/health") is None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_dev_run_without_a_key_starts_the_standin_and_stops_it() -> None:
    port, standin_port = free_port("127.0.0.1"), free_port("127.0.0.1")
    env = _env_without_stripe(
        DATABASE_URL=database_url(settings.DATABASES["default"]),
        REDIS_URL=settings.REDIS_URL,
        REDIS_KEY_PREFIX=settings.REDIS_KEY_PREFIX,
        Q_CLUSTER_NAME=settings.Q_CLUSTER["name"],
        Q_WORKERS="1",
        PORT=str(port),
        STRIPE_STANDIN_PORT=str(standin_port),
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        process = subprocess.Popen(
            ["./dev", "run"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            health_url = f"http://127.0.0.1:{port}/healthz"
            assert wait_for(
                lambda: (_get_json(health_url) or (0,))[0] == 200 or process.poll() is not None,
                120,
                0.5,
            )
            # The banner follows the first answer from /healthz.
            wait_for(lambda: "Payments   " in Path(log.name).read_text(errors="replace"), 10)
            output = Path(log.name).read_text(errors="replace")
            answer = _get_json(health_url)
            assert answer is not None, output[-3000:]
            standin_base = f"http://127.0.0.1:{standin_port}"
            assert answer[1]["payments"]["gateway"] == "standin", answer
            assert answer[1]["payments"]["api_base"] == standin_base
            assert f"Payments   Stripe test stand-in at {standin_base}" in output
            assert _get_json(f"{standin_base}/_standin/health") == (
                200,
                {"ok": True, "standin": True},
            )
            os.killpg(process.pid, signal.SIGTERM)
            assert process.wait(timeout=40) is not None
            assert wait_for(lambda: _get_json(f"{standin_base}/_standin/health") is None, 10)
        finally:
            # SIGTERM first: the worker runs in its own session, and only ./dev run's trap
            # stops it; a SIGKILL to the group would leave it running.
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
