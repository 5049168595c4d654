"""A real HTTP(S) webhook receiver on loopback for tests, and the shop-side signature check."""

from __future__ import annotations

import hashlib
import hmac
import ssl
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def verify_signature(*, secret: str, header: str, body: bytes, tolerance_s: int = 300) -> bool:
    """What a shop does with ``X-Marketplace-Signature: t=<unix>,v1=<hex>``.

    Written from the README recipe, independently of jobs.webhooks: recompute
    HMAC-SHA256(secret, "<t>.<raw body>"), compare in constant time, refuse stale stamps.
    """
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.partition("=")
        parts.setdefault(key.strip(), []).append(value.strip())
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance_s:
        return False
    expected = hmac.new(
        secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", []))


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A sender that gave up on a hanging answer closed its end: expected, not news.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class WebhookReceiver:
    """``http.server`` in a thread: records each request, answers from a script.

    ``statuses`` are answered in order, then ``default_status``. ``hang()`` makes it accept
    connections and read requests but never answer until ``release()`` (or ``stop()``).
    ``stop()`` then ``start()`` brings it back on the same port, so a URL outlives downtime.
    """

    def __init__(
        self, *, port: int = 0, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
    ) -> None:
        self.host = host
        self.tls = tls
        # Server names clients asked for in their TLS handshakes (SNI).
        self.server_names: list[str | None] = []
        if tls is not None:
            tls.sni_callback = lambda _socket, name, _context: self.server_names.append(name)
        self.requests: list[ReceivedRequest] = []
        self.statuses: deque[int] = deque()
        self.default_status = 200
        self._lock = threading.Lock()
        self._received = threading.Condition(self._lock)
        self._released = threading.Event()
        self._released.set()
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self._port}/hooks/marketplace"

    @property
    def port(self) -> int:
        return self._port

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._received:
                    receiver.requests.append(
                        ReceivedRequest("POST", self.path, dict(self.headers.items()), body)
                    )
                    status = receiver.statuses.popleft() if receiver.statuses else None
                    receiver._received.notify_all()
                receiver._released.wait(30)
                self.send_response(status or receiver.default_status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = _QuietServer((self.host, self._port), Handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def hang(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def wait_for(self, count: int, timeout: float = 20) -> list[ReceivedRequest]:
        """Block until ``count`` requests arrived (or the timeout); return them all."""
        with self._received:
            self._received.wait_for(lambda: len(self.requests) >= count, timeout)
            return list(self.requests)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
