"""Tests for scripts/services.sh, the services bootstrap (PostGIS, Redis, GDAL libs).

They run the real script in a subprocess against the services of the machine
running the tests, so they expect it to be set up already (the run and test
commands call the script first). No Django needed: plain pytest functions.
"""

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "services.sh"


def run_script(*args: str, **env_overrides: str) -> subprocess.CompletedProcess[str]:
    """Run the script with DATABASE_URL/REDIS_URL unset unless given; return the result."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(env_overrides)
    return subprocess.run(
        [str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_script_is_executable_bash_with_strict_mode() -> None:
    text = SCRIPT.read_text()
    assert os.access(SCRIPT, os.X_OK)
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text


def test_second_run_changes_nothing() -> None:
    first = run_script()
    assert first.returncode == 0, first.stdout + first.stderr

    second = run_script()
    out = second.stdout
    assert second.returncode == 0, out + second.stderr
    assert "==> services ready — nothing changed" in out
    assert "PostgreSQL: running, PostGIS" in out
    assert "in marketplace — ok" in out
    assert "Redis: answering PING on 127.0.0.1:6379 — ok" in out
    assert "GDAL/GEOS/PROJ libraries:" in out
    for word in ("installing", "creating", "starting", "granting"):
        assert f"==> {word}" not in out
    # The summary shows URLs without the password.
    assert "postgis://marketplace@127.0.0.1:5432/marketplace" in out
    assert "marketplace:marketplace@" not in out


def test_check_mode_passes_on_a_set_up_machine() -> None:
    result = run_script("--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing changed" in result.stdout


def test_unreachable_redis_url_fails_naming_redis_url() -> None:
    result = run_script(REDIS_URL="redis://127.0.0.1:1/0")
    assert result.returncode != 0
    assert "REDIS_URL" in result.stderr
    assert "redis://127.0.0.1:1/0" in result.stderr


def test_unreachable_database_url_fails_naming_database_url() -> None:
    result = run_script(DATABASE_URL="postgis://nobody:x@127.0.0.1:1/nope")
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr
    assert "postgresql://nobody@127.0.0.1:1/nope" in result.stderr  # password not echoed


def test_unknown_database_url_scheme_is_rejected() -> None:
    result = run_script(DATABASE_URL="mysql://root@127.0.0.1/x")
    assert result.returncode != 0
    assert "DATABASE_URL must start with postgis://" in result.stderr


def test_check_mode_reports_every_failing_service() -> None:
    result = run_script(
        "--check",
        DATABASE_URL="postgres://nobody:x@127.0.0.1:1/nope",
        REDIS_URL="redis://127.0.0.1:1/0",
    )
    assert result.returncode == 1
    assert "DATABASE_URL" in result.stderr
    assert "REDIS_URL" in result.stderr
    assert "check failed: db redis" in result.stdout
