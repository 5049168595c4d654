"""Signed event delivery from the stand-in: one background thread, retries with backoff."""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

RETRY_DELAYS_SECONDS = (0.2, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)
REQUEST_TIMEOUT_SECONDS = 10


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """Stripe's scheme: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>``."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass
class Endpoint:
    url: str
    secret: str
    # Connect endpoints get connected accounts' events (those with ``account``).
    connect: bool = False


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    event_id: str = field(compare=False)
    event_type: str = field(compare=False)
    endpoint: Endpoint = field(compare=False)
    payload: bytes = field(compare=False)
    record: dict[str, Any] = field(compare=False)
    generation: int = field(compare=False, default=0)


class Deliverer:
    """Posts each event to every matching endpoint until one attempt answers 2xx."""

    def __init__(self, *, max_attempts: int = len(RETRY_DELAYS_SECONDS) + 1) -> None:
        self.endpoints: list[Endpoint] = []
        self.max_attempts = max_attempts
        self.records: list[dict[str, Any]] = []
        self._queue: list[_Delivery] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._busy = 0
        # Bumped by clear(): an attempt in flight then doesn't requeue itself.
        self._generation = 0
        self._stopped = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="standin-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=REQUEST_TIMEOUT_SECONDS + 1)

    def clear(self) -> None:
        """Forget pending deliveries and the record of past ones."""
        with self._cond:
            self._queue.clear()
            self.records.clear()
            self._generation += 1

    def enqueue(self, event: dict[str, Any]) -> None:
        payload = json.dumps(event, indent=2).encode()
        is_connect = "account" in event
        with self._cond:
            for endpoint in self.endpoints:
                if endpoint.connect != is_connect:
                    continue
                record = {
                    "event": event["id"],
                    "type": event["type"],
                    "url": endpoint.url,
                    "attempts": 0,
                    "status": "pending",
                    "last_response": None,
                }
                self.records.append(record)
                heapq.heappush(
                    self._queue,
                    _Delivery(
                        time.monotonic(),
                        next(self._seq),
                        event["id"],
                        event["type"],
                        endpoint,
                        payload,
                        record,
                        self._generation,
                    ),
                )
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + self._busy

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued delivery has succeeded or given up (True) or timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (
                    not self._queue or self._queue[0].due > time.monotonic()
                ):
                    wait = self._queue[0].due - time.monotonic() if self._queue else None
                    self._cond.wait(wait)
                if self._stopped:
                    return
                delivery = heapq.heappop(self._queue)
                self._busy += 1
            try:
                self._attempt(delivery)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _attempt(self, delivery: _Delivery) -> None:
        record = delivery.record
        record["attempts"] += 1
        request = urllib.request.Request(
            delivery.endpoint.url,
            data=delivery.payload,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": sign(
                    delivery.payload, delivery.endpoint.secret, int(time.time())
                ),
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
                record["last_response"] = response.status
                record["status"] = "delivered"
                return
        except urllib.error.HTTPError as exc:
            record["last_response"] = exc.code
        except (urllib.error.URLError, OSError) as exc:
            record["last_response"] = f"{type(exc).__name__}: {exc}"
        if record["attempts"] >= self.max_attempts:
            record["status"] = "failed"
            logger.warning(
                "stand-in gave up delivering %s to %s", delivery.event_id, delivery.endpoint.url
            )
            return
        delay = RETRY_DELAYS_SECONDS[min(record["attempts"] - 1, len(RETRY_DELAYS_SECONDS) - 1)]
        delivery.due = time.monotonic() + delay
        delivery.seq = next(self._seq)
        with self._cond:
            if not self._stopped and delivery.generation == self._generation:
                heapq.heappush(self._queue, delivery)
