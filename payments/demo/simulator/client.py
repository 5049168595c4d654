"""The simulator's outside view of the server: REST (``requests``) and sockets (``websockets``).

Each actor has its own ``Api`` (one ``requests.Session``, used by one actor at a time) and
runs its calls on a shared thread pool, so the event loop never blocks. Throttled (429,
after ``Retry-After``), unavailable (503) and unreachable answers are retried a few
times; POSTs that create something carry an idempotency key, so a retry is safe.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from websockets.asyncio.client import ClientConnection, connect

REQUEST_TIMEOUT_SECONDS = 20
RETRIES = 6
RETRY_STATUSES = frozenset({429, 502, 503, 504})
SOCKET_OPEN_TIMEOUT_SECONDS = 15


class ApiError(Exception):
    """The server refused a request the simulator expected to succeed."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        code = body.get("code") if isinstance(body, dict) else None
        super().__init__(f"{method} {path} -> {status} {code or body!r}")
        self.status = status
        self.code = code or f"http_{status}"
        self.body = body


class Api:
    """Calls as one party, with that party's token (none for signing in)."""

    def __init__(self, base_url: str, executor: ThreadPoolExecutor, token: str = "") -> None:
        self.base_url = base_url.rstrip("/")
        self.executor = executor
        self.token = token
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Token {token}"

    def close(self) -> None:
        self.session.close()

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """``(status, decoded JSON or None)`` for ``/api/v1/<path>``, after retries."""
        url = f"{self.base_url}/api/v1/{path}"
        loop = asyncio.get_running_loop()
        delay = 0.5
        for attempt in range(RETRIES):
            try:
                response = await loop.run_in_executor(
                    self.executor,
                    lambda: self.session.request(
                        method,
                        url,
                        json=json_body,
                        data=data,
                        files=files,
                        headers=headers,
                        timeout=REQUEST_TIMEOUT_SECONDS,
                    ),
                )
            except requests.RequestException:
                if attempt == RETRIES - 1:
                    raise
                await asyncio.sleep(delay)
                delay *= 2
                continue
            if response.status_code in RETRY_STATUSES and attempt < RETRIES - 1:
                retry_after = response.headers.get("Retry-After", "")
                wait = float(retry_after) if retry_after.isdigit() else delay
                await asyncio.sleep(min(wait, 60.0))
                delay *= 2
                continue
            try:
                body = response.json() if response.content else None
            except ValueError:
                body = response.text
            return response.status_code, body
        raise AssertionError("unreachable")

    async def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        """The body of a 2xx answer; ApiError otherwise."""
        status, body = await self.call(method, path, **kwargs)
        if not 200 <= status < 300:
            raise ApiError(method, path, status, body)
        return body


async def sign_in(base_url: str, executor: ThreadPoolExecutor, username: str, password: str) -> str:
    """The account's API token, from ``POST auth/token/``."""
    api = Api(base_url, executor)
    try:
        body = await api.ok(
            "POST", "auth/token/", json_body={"username": username, "password": password}
        )
    finally:
        api.close()
    return body["token"]


async def open_socket(url: str, token: str | None = None) -> ClientConnection:
    """A socket as a native app opens it: the token in an Authorization header."""
    headers = {"Authorization": f"Token {token}"} if token else None
    return await connect(
        url,
        additional_headers=headers,
        open_timeout=SOCKET_OPEN_TIMEOUT_SECONDS,
        close_timeout=5,
        max_size=2**22,
    )


async def send_json(socket: ClientConnection, payload: dict[str, Any]) -> None:
    await socket.send(json.dumps(payload))
