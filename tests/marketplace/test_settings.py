"""Settings come from the environment; production values pass Django's deploy check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "marketplace.settings",
    "DEBUG": "false",
    "SECRET_KEY": "k3y-" + "a1b2c3d4e5f6g7h8" * 4,
    "ALLOWED_HOSTS": "couriers.example.com",
    "DATABASE_URL": "postgis://marketplace:marketplace@127.0.0.1:5432/marketplace",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "PUBLIC_BASE_URL": "https://couriers.example.com",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # marketplace.test_settings put test-only values into this process's environment.
    test_only = {"SECURE_SSL_REDIRECT", "REDIS_KEY_PREFIX", "PUBLIC_BASE_URL", "Q_REDIS_URL"}
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION and k not in test_only}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_check_passes_with_production_values() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)

    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


def test_missing_secret_key_outside_debug_names_the_fix() -> None:
    env = {**PRODUCTION, "SECRET_KEY": ""}
    result = manage("check", env=env)

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_a_bad_boolean_is_named() -> None:
    result = manage("check", env={**PRODUCTION, "DEBUG": "maybe"})

    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("x", "SECRET_KEY is 1 characters long; it needs at least 50"),
        (
            "k3y-" + "a1b2c3d4e5f6" * 3 + "z",
            "SECRET_KEY is 41 characters long; it needs at least 50",
        ),
        ("x" * 80, "SECRET_KEY has only 1 distinct characters; it needs at least 5"),
        ("abcd" * 20, "SECRET_KEY has only 4 distinct characters; it needs at least 5"),
        (
            "django-insecure-" + "a1b2c3d4e5f6g7h8" * 3,
            "SECRET_KEY is a development key (it starts with django-insecure-)",
        ),
    ],
    ids=["one-char", "49-chars", "one-distinct", "four-distinct", "django-insecure"],
)
def test_a_weak_secret_key_outside_debug_refuses_to_start_and_names_the_fix(
    key: str, problem: str
) -> None:
    result = manage("check", env={**PRODUCTION, "SECRET_KEY": key})

    assert result.returncode != 0
    assert f"{problem}. Set SECRET_KEY to a long random string" in result.stderr
    assert "secrets.token_urlsafe(50)" in result.stderr


def test_a_short_secret_key_is_fine_in_debug() -> None:
    result = manage("check", env={**PRODUCTION, "DEBUG": "true", "SECRET_KEY": "x"})

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_suites_own_key_passes_the_production_rule() -> None:
    from marketplace.settings import secret_key_problem

    assert settings.DEBUG is False
    assert secret_key_problem(settings.SECRET_KEY) is None
    assert secret_key_problem(PRODUCTION["SECRET_KEY"]) is None


def settings_values(names: list[str], env: dict[str, str]) -> list[str]:
    """Values of settings ``names`` as ``env`` configures them (import only, no setup)."""
    code = (
        "import importlib, os, sys\n"
        "module = importlib.import_module(os.environ['DJANGO_SETTINGS_MODULE'])\n"
        f"print('\\n'.join(str(getattr(module, name)) for name in {names!r}))\n"
    )
    redis_vars = {"REDIS_URL", "Q_REDIS_URL", "TEST_ISOLATION_SLOT", "REDIS_KEY_PREFIX"}
    clean = {k: v for k, v in os.environ.items() if k not in redis_vars}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_the_task_queue_defaults_to_the_next_redis_database() -> None:
    assert settings_values(["REDIS_URL", "Q_REDIS_URL"], PRODUCTION) == [
        "redis://127.0.0.1:6379/0",
        "redis://127.0.0.1:6379/1",
    ]
    env = {**PRODUCTION, "REDIS_URL": "redis://:pw@cache.internal:6380/4"}
    assert settings_values(["Q_REDIS_URL"], env) == ["redis://:pw@cache.internal:6380/5"]
    env = {**PRODUCTION, "Q_REDIS_URL": "redis://queue.internal:6379/0"}
    assert settings_values(["Q_REDIS_URL"], env) == ["redis://queue.internal:6379/0"]


def test_the_task_queue_on_the_cache_database_is_refused() -> None:
    env = {**PRODUCTION, "Q_REDIS_URL": "redis://127.0.0.1:6379"}
    result = manage("check", env=env)

    assert result.returncode != 0
    assert "Q_REDIS_URL and REDIS_URL are the same database" in result.stderr
    assert "redis://127.0.0.1:6379/1" in result.stderr


def test_every_test_slot_gets_its_own_cache_and_queue_databases() -> None:
    used: list[int] = []
    for slot in ["", "1", "2", "3", "4", "5", "6", "7"]:
        env = {"DJANGO_SETTINGS_MODULE": "marketplace.test_settings", "TEST_ISOLATION_SLOT": slot}
        cache_url, queue_url = settings_values(["REDIS_URL", "Q_REDIS_URL"], env)
        used += [int(cache_url.rsplit("/", 1)[1]), int(queue_url.rsplit("/", 1)[1])]
    assert sorted(used) == list(range(16))


def test_missing_public_base_url_outside_debug_names_the_fix() -> None:
    result = manage("check", env={**PRODUCTION, "PUBLIC_BASE_URL": ""})

    assert result.returncode != 0
    assert "PUBLIC_BASE_URL is not set" in result.stderr
