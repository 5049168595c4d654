"""Run the real ASGI server (uvicorn) in a subprocess for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_SECONDS = 15.0
SHUTDOWN_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class ServerInfo:
    host: str
    port: int
    max_body_bytes: int
    process: subprocess.Popen = field(repr=False, compare=False)
    log_path: Path = field(repr=False, compare=False)

    def log(self) -> str:
        """Everything the server has printed so far (read through a separate handle)."""
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, *, count: int = 1, timeout: float = 10) -> str:
        """The log once ``text`` appears in it ``count`` times; AssertionError after ``timeout``.

        Negative checks ("the token is not in the log") wait for a line that proves the
        server handled the request first, instead of sleeping and hoping.
        """
        deadline = time.monotonic() + timeout
        while True:
            log = self.log()
            if log.count(text) >= count:
                return log
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} x{count} not in the server log:\n{log[-3000:]}")
            time.sleep(0.05)

    def stop(self) -> bool:
        """SIGTERM the server; True if it exited on its own, False if it had to be killed."""
        return _stop(self.process)

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"


def database_url(database: Mapping[str, Any]) -> str:
    """A ``postgis://`` URL for one entry of ``settings.DATABASES``."""
    user = quote(database.get("USER") or "", safe="")
    password = quote(database.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    # An empty HOST means libpq's default socket; a path is percent-encoded as the host.
    host = quote(database.get("HOST") or "", safe="")
    port = f":{database['PORT']}" if database.get("PORT") else ""
    name = quote(database["NAME"], safe="")
    return f"postgis://{credentials}{host}{port}/{name}"


def free_port(host: str) -> int:
    """A port nothing listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # any status means the server is up (503 when the worker is down)
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        return True
    process.terminate()
    try:
        process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
        return False
    return True


@contextmanager
def running_server(
    *,
    database: Mapping[str, Any],
    max_body_bytes: int,
    host: str = "127.0.0.1",
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[ServerInfo]:
    """Start uvicorn on a free port against ``database``; stop it on exit.

    ``extra_env`` adds or overrides settings for this server process only.

    Raises RuntimeError, with the server's output, if ``/healthz`` does not answer in time.
    """
    port = free_port(host)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "marketplace.test_settings",
        "DATABASE_URL": database_url(database),
        "MAX_REQUEST_BODY_BYTES": str(max_body_bytes),
        "PYTHONUNBUFFERED": "1",
        # Links the server hands out (tracking pages, proof photos) point at itself.
        "PUBLIC_BASE_URL": f"http://{host}:{port}",
        **(extra_env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "marketplace.asgi:application",
        "--host",
        host,
        "--port",
        str(port),
        "--lifespan",
        "off",
    ]
    with tempfile.NamedTemporaryFile(prefix="uvicorn-", suffix=".log") as output:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            _wait_until_up(process, output, f"http://{host}:{port}/healthz")
            yield ServerInfo(
                host=host,
                port=port,
                max_body_bytes=max_body_bytes,
                process=process,
                log_path=Path(output.name),
            )
        finally:
            _stop(process)


def _wait_until_up(process: subprocess.Popen[bytes], output: Any, healthz_url: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if _answers(healthz_url):
            return
        time.sleep(0.1)
    _stop(process)
    output.seek(0)
    log = output.read().decode(errors="replace")
    raise RuntimeError(
        f"uvicorn did not answer {healthz_url} within {STARTUP_TIMEOUT_SECONDS:.0f} s "
        f"(exit code {process.returncode}). Its output:\n{log}"
    )
