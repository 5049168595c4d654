"""Webhook delivery: the outbox row, signing, sending with a lease, retries and the sweeper.

Flow: ``job_transition`` calls ``webhook_enqueue`` inside its transaction (the outbox row),
which queues ``webhook_deliver_task`` on commit. The task claims the row with a lease (a
conditional UPDATE of ``next_attempt_at``), resolves and checks the URL once
(``webhook_target``), POSTs the stored body signed with the shop's current secret to exactly
the checked address (Host header, TLS SNI and certificate check on the name), records a
``WebhookAttempt`` and either marks the row delivered or schedules a retry with exponential
backoff. ``webhook_sweep_task`` runs every minute, gives up rows
older than the retry window and re-queues the due ones. No HTTP call ever happens inside a
request or a lifecycle transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django_q.tasks import async_task

from jobs.models import EventKind, Job, JobEvent, WebhookAttempt, WebhookDelivery, WebhookStatus
from jobs.webhooks.config import WebhookTarget, new_secret, webhook_target
from marketplace.models import Shop

logger = logging.getLogger(__name__)

# Task paths are stable public names: jobs.webhooks re-exports the tasks.
DELIVER_TASK = "jobs.webhooks.webhook_deliver_task"
SIGNATURE_HEADER = "X-Marketplace-Signature"
USER_AGENT = "Marketplace-Webhooks/1"
# Retry delays: 30 s after the first failure, doubling, never more than an hour apart.
BACKOFF_FIRST_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
# How many due deliveries one sweep queues; the rest wait for the next minute.
SWEEP_BATCH = 500
ERROR_MAX_CHARS = 500


# --- Outbox ------------------------------------------------------------------------------


def webhook_event_type(event: JobEvent) -> str:
    """``job.<status>`` for a status change, ``dispute.<what>`` for a dispute's change,
    ``job.<kind>`` for anything else."""
    if event.kind == EventKind.DISPUTE:
        return str(event.data.get("type") or "dispute.updated")
    return f"job.{event.to_status if event.kind == EventKind.STATUS else event.kind}"


def event_envelope(*, event: JobEvent, job: Job, envelope_id: str | int) -> dict[str, Any]:
    """One job event as shops receive it, by webhook (``id`` = the delivery) and on the
    shop socket (``id`` = the event, which ``resume`` takes).

    ``type`` is ``job.<status>`` for a status change and ``job.<kind>`` for anything else
    (``job.instructions_updated``, ``job.rescheduled``...); ``details`` carry its facts.
    """
    return {
        "id": envelope_id,
        "type": webhook_event_type(event),
        "created_at": event.created_at.isoformat(),
        "data": {
            "job_id": str(job.pk),
            "external_ref": job.external_ref,
            "seq": event.seq,
            "event_id": event.pk,
            "kind": event.kind,
            "actor": event.actor_role,
            "from_status": event.from_status or None,
            "status": event.to_status,
            "courier_id": event.courier_id,
            "reason": event.reason,
            "details": event.data,
        },
    }


def webhook_payload(*, event: JobEvent, job: Job, delivery_id: str) -> dict[str, Any]:
    """What the shop's webhook receives for one job event."""
    return event_envelope(event=event, job=job, envelope_id=delivery_id)


def _queue_delivery(delivery_pk: UUID | str) -> None:
    # The webhook cluster's own queue: a slow shop endpoint holds up only other sends.
    async_task(DELIVER_TASK, str(delivery_pk), group="webhooks", cluster=settings.WEBHOOK_CLUSTER)


def webhook_enqueue(*, event: JobEvent, job: Job) -> WebhookDelivery | None:
    """Write the outbox row in the caller's transaction; send it after commit.

    Nothing is written when the shop has no webhook URL.
    """
    url = job.shop.webhook_url
    if not url:
        return None
    delivery = WebhookDelivery(shop_id=job.shop_id, event=event, url=url)
    delivery.body = json.dumps(
        webhook_payload(event=event, job=job, delivery_id=str(delivery.pk)),
        separators=(",", ":"),
        sort_keys=True,
    )
    delivery.next_attempt_at = timezone.now()
    delivery.save(force_insert=True)
    delivery_pk = delivery.pk
    transaction.on_commit(lambda: _queue_delivery(delivery_pk))
    return delivery


# --- Signing and sending -----------------------------------------------------------------


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>``."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_backoff(attempt_count: int) -> timedelta:
    """How long to wait after the ``attempt_count``-th failed attempt (30 s, 1 m, 2 m ... 1 h)."""
    exponent = min(max(attempt_count, 1) - 1, 20)
    return timedelta(seconds=min(BACKOFF_FIRST_SECONDS * 2**exponent, BACKOFF_MAX_SECONDS))


def _retry_window() -> timedelta:
    return timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS)


def _claim_lease() -> timedelta:
    # Longer than a task may run (django-q2 kills it at Q_CLUSTER["timeout"]), so a lease
    # only lapses when its worker is gone; then the sweeper sends the delivery again.
    return timedelta(seconds=max(2 * settings.Q_CLUSTER.get("timeout", 60), 120))


@dataclass(frozen=True)
class _Result:
    status_code: int | None
    error: str
    duration_ms: int

    @property
    def is_delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to ``address`` (already checked), never to a fresh lookup of the host name.

    The host name still goes in the Host header (http.client takes it from ``host``).
    """

    def __init__(self, host: str, *, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port=port, timeout=timeout)
        self.pinned_address = address

    def _pinned_socket(self) -> socket.socket:
        sock = socket.create_connection((self.pinned_address, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def connect(self) -> None:
        self.sock = self._pinned_socket()


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """TLS to the pinned address, with SNI and certificate checks on the host name."""

    default_port = http.client.HTTPS_PORT

    def __init__(self, host: str, *, address: str, port: int, timeout: float) -> None:
        super().__init__(host, address=address, port=port, timeout=timeout)
        self.tls_context = tls_context()

    def connect(self) -> None:
        self.sock = self.tls_context.wrap_socket(self._pinned_socket(), server_hostname=self.host)


def tls_context() -> ssl.SSLContext:
    """The system's trust store, hostname checks on (tests swap in their own CA)."""
    return ssl.create_default_context()


def _send(target: WebhookTarget, body: bytes, headers: dict[str, str]) -> int:
    """POST to the first of the target's checked addresses that accepts a connection.

    A redirect is a failed delivery like any other non-2xx: it is never followed, so the
    body is never re-sent to another URL.
    """
    parts = urlsplit(target.url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    last_error: OSError | None = None
    for address in target.addresses:
        connection = connection_class(
            target.host, address=address, port=target.port, timeout=settings.WEBHOOK_TIMEOUT_SECONDS
        )
        try:
            try:
                connection.connect()
            except (ConnectionRefusedError, ConnectionResetError) as exc:
                last_error = exc  # try the next address; anything else is the answer
                continue
            connection.request("POST", path, body=body, headers=headers)
            return connection.getresponse().status
        finally:
            connection.close()
    raise last_error or OSError("no address to connect to")


def _post(target: WebhookTarget, body: bytes, headers: dict[str, str]) -> _Result:
    started = time.monotonic()
    status_code, error = None, ""
    try:
        status_code = _send(target, body, headers)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:ERROR_MAX_CHARS]
    duration_ms = round((time.monotonic() - started) * 1000)
    return _Result(status_code=status_code, error=error, duration_ms=duration_ms)


def _shop_secret(shop: Shop) -> str:
    """The shop's current secret; one is made for a URL stored without one (an older row)."""
    if not shop.webhook_secret:
        Shop.objects.filter(pk=shop.pk, webhook_secret="").update(webhook_secret=new_secret())
        shop.webhook_secret = Shop.objects.values_list("webhook_secret", flat=True).get(pk=shop.pk)
    return shop.webhook_secret


def _earlier_pending(*, job_id: Any, seq: Any) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(
        event__job_id=job_id, event__seq__lt=seq, status=WebhookStatus.PENDING
    )


def webhook_deliver(*, delivery_pk: UUID | str) -> str:
    """Try to send one delivery now; return what happened (stored as the task's result).

    Safe to call any number of times, from any worker: only a caller whose conditional
    UPDATE moves a due ``next_attempt_at`` to its lease sends. A delivery waits while an
    earlier event of the same job is still pending, so a job's events arrive in ``seq``
    order. Outcomes: ``delivered``, ``retry``, ``gave_up``, ``webhooks_off``,
    ``waiting_for_earlier``, ``not_due`` (leased elsewhere, not yet due, or past its window),
    ``not_pending``, ``missing``.
    """
    delivery = WebhookDelivery.objects.select_related("event").filter(pk=delivery_pk).first()
    if delivery is None:
        return "missing"
    if delivery.status != WebhookStatus.PENDING:
        return "not_pending"
    # A job's deliveries are created in seq order and never return to pending, so once no
    # earlier one is pending this stays true: checking before claiming is race-free.
    if _earlier_pending(job_id=delivery.event.job_id, seq=delivery.event.seq).exists():
        return "waiting_for_earlier"
    now = timezone.now()
    lease_until = now + _claim_lease()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery.pk,
        status=WebhookStatus.PENDING,
        next_attempt_at__lte=now,
        created_at__gt=now - _retry_window(),
    ).update(next_attempt_at=lease_until)
    if not claimed:
        return "not_due"

    shop = Shop.objects.get(pk=delivery.shop_id)  # the URL and secret as they are now
    if not shop.webhook_url:
        WebhookDelivery.objects.filter(pk=delivery.pk, next_attempt_at=lease_until).update(
            status=WebhookStatus.GAVE_UP
        )
        _queue_next_of_job(delivery)
        return "webhooks_off"
    target = webhook_target(shop.webhook_url)
    if isinstance(target, str):
        result = _Result(status_code=None, error=f"URL refused: {target}", duration_ms=0)
    else:
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: webhook_signature(
                secret=_shop_secret(shop), timestamp=int(time.time()), body=body
            ),
            "X-Marketplace-Event-Id": str(delivery.pk),
            "X-Marketplace-Event-Type": webhook_event_type(delivery.event),
            "X-Marketplace-Sequence": str(delivery.event.seq),
        }
        result = _post(target, body, headers)
    return _record_attempt(delivery, lease_until=lease_until, url=shop.webhook_url, result=result)


def _record_attempt(
    delivery: WebhookDelivery, *, lease_until: datetime, url: str, result: _Result
) -> str:
    """Store the attempt and the delivery's next state, if this caller still holds the lease."""
    with transaction.atomic():
        row = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        WebhookAttempt.objects.create(
            delivery=row,
            status_code=result.status_code,
            error=result.error,
            duration_ms=result.duration_ms,
        )
        row.attempt_count += 1
        row.url = url
        outcome = "lease_lost"  # turned off meanwhile, or this worker outlived its lease
        if row.status == WebhookStatus.PENDING and row.next_attempt_at == lease_until:
            now = timezone.now()
            retry_at = now + webhook_backoff(row.attempt_count)
            if result.is_delivered:
                row.status, row.delivered_at, outcome = WebhookStatus.DELIVERED, now, "delivered"
            elif retry_at > row.created_at + _retry_window():
                row.status, outcome = WebhookStatus.GAVE_UP, "gave_up"
            else:
                row.next_attempt_at, outcome = retry_at, "retry"
        row.save(
            update_fields=["attempt_count", "url", "status", "delivered_at", "next_attempt_at"]
        )
        if outcome in ("delivered", "gave_up"):
            transaction.on_commit(lambda: _queue_next_of_job(delivery))
    if outcome != "delivered":
        logger.warning(
            "webhook %s attempt %d: %s (%s)",
            delivery.pk,
            row.attempt_count,
            result.status_code or result.error,
            outcome,
        )
    return outcome


def _queue_next_of_job(delivery: WebhookDelivery) -> None:
    """Send the job's next waiting event now instead of at the next sweep."""
    next_pk = (
        WebhookDelivery.objects.filter(
            event__job_id=delivery.event.job_id,
            event__seq__gt=delivery.event.seq,
            status=WebhookStatus.PENDING,
            next_attempt_at__lte=timezone.now(),
        )
        .order_by("event__seq")
        .values_list("pk", flat=True)
        .first()
    )
    if next_pk is not None:
        _queue_delivery(next_pk)


def webhook_sweep(*, limit: int = SWEEP_BATCH) -> dict[str, int]:
    """Give up deliveries past the retry window; queue a send for each due one.

    Only the first pending delivery of each job is queued (the others wait for it). Queuing
    twice is harmless: the send claims the row first.
    """
    now = timezone.now()
    expired = WebhookDelivery.objects.filter(
        status=WebhookStatus.PENDING,
        created_at__lte=now - _retry_window(),
        next_attempt_at__lte=now,  # not leased: a running send settles its own row
    ).update(status=WebhookStatus.GAVE_UP)
    earlier = _earlier_pending(job_id=OuterRef("event__job_id"), seq=OuterRef("event__seq"))
    due = list(
        WebhookDelivery.objects.filter(status=WebhookStatus.PENDING, next_attempt_at__lte=now)
        .exclude(Exists(earlier))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in due:
        _queue_delivery(pk)
    return {"gave_up": expired, "queued": len(due)}
