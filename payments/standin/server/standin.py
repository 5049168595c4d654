"""The stand-in server: its store, webhook deliverer and HTTP thread, start and stop."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

from payments.standin.server.api import ApiRequests, _Fault
from payments.standin.server.handler import RequestHandler
from payments.standin.server.helpers import HelperRequests
from payments.standin.store import Store
from payments.standin.webhooks import Deliverer, Endpoint


class StandinServer(ApiRequests, HelperRequests):
    """The Stripe stand-in on ``host:port`` (port 0 picks a free one).

    ``api_key``: the one secret key accepted (any ``sk_test_…`` when None). Webhook
    endpoints get every platform event (``webhook_url``) and every connected-account
    event (``connect_webhook_url``), signed with their secrets.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        connect_webhook_url: str | None = None,
        connect_webhook_secret: str | None = None,
        fee_percent_bp: int = 150,
        fee_fixed_minor: int = 25,
        dispute_fee_minor: int = 2000,
    ) -> None:
        self.host, self.port, self.api_key = host, port, api_key
        self.deliverer = Deliverer()
        self.store = Store(
            fee_percent_bp=fee_percent_bp,
            fee_fixed_minor=fee_fixed_minor,
            dispute_fee_minor=dispute_fee_minor,
            emit_hook=self.deliverer.enqueue,
        )
        if webhook_url:
            self.add_endpoint(webhook_url, webhook_secret or "", connect=False)
        if connect_webhook_url:
            self.add_endpoint(connect_webhook_url, connect_webhook_secret or "", connect=True)
        self.faults: list[_Fault] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        """Serve in a background thread; returns the base URL (``STRIPE_API_BASE``)."""
        server = self

        class _Handler(RequestHandler):
            standin = server

        self._httpd = ThreadingHTTPServer((self.host, self.port), _Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="standin-http", daemon=True
        )
        self._thread.start()
        self.deliverer.start()
        return self.base_url

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        self.deliverer.stop()

    def wait(self) -> None:
        """Block while serving (the management command); stop() ends it."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def add_endpoint(self, url: str, secret: str, *, connect: bool) -> None:
        self.deliverer.endpoints.append(Endpoint(url=url, secret=secret, connect=connect))

    def reset(self) -> None:
        """Forget every object, idempotency key, event and delivery (endpoints stay)."""
        with self.store.lock:
            self.store.reset()
            self.faults.clear()
            self.deliverer.clear()

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        return self.deliverer.wait_idle(timeout)

    # -- request handling (called by RequestHandler) -----------------------------------------
