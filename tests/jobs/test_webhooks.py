"""Shop webhooks: the endpoint, signed delivery to a real receiver, retries, sweeper, cluster."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.conf import Conf
from rest_framework.test import APIClient

from couriers.models import CourierStatus
from jobs.lifecycle import job_record_event, job_transition
from jobs.models import EventKind, Job, JobStatus, WebhookDelivery, WebhookStatus
from jobs.webhooks import (
    webhook_backoff,
    webhook_deliver,
    webhook_signature,
    webhook_sweep,
    webhook_url_problem,
)
from marketplace.models import Shop, User
from tests.concurrency import on_another_connection, race
from tests.conftest import client_for
from tests.e2e_server import free_port
from tests.factories import CourierFactory, JobFactory, ShopUserFactory
from tests.jobs.webhook_receiver import WebhookReceiver, verify_signature
from tests.workers import running_cluster, wait_for

S = JobStatus
URL = "/api/v1/shop/webhook/"
DELIVERIES_URL = "/api/v1/shop/webhook/deliveries/"
SIG = "X-Marketplace-Signature"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _local_urls_allowed(settings: Any) -> None:
    """The receiver is http://127.0.0.1; production refuses such URLs (tested separately)."""
    settings.WEBHOOK_ALLOW_INSECURE_URLS = True


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def configure(client: APIClient, url: str, **extra: Any) -> str:
    """PUT the webhook URL as the shop would; return the signing secret it answers with."""
    response = client.put(URL, {"url": url, **extra}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["secret"]


def cancel_job(shop: Shop, user: User | None = None) -> tuple[Job, WebhookDelivery]:
    job = JobFactory(shop=shop)
    job, event = job_transition(job=job, to=S.CANCELLED, actor=user, reason="changed my mind")
    return job, WebhookDelivery.objects.get(event=event)


def advance(delivery: WebhookDelivery) -> None:
    """Let the delivery's backoff elapse (move its due time into the past)."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def attempt_codes(delivery: WebhookDelivery) -> list[int | None]:
    attempts = delivery.attempts.order_by("attempted_at", "pk")
    return list(attempts.values_list("status_code", flat=True))


# --- The endpoint ------------------------------------------------------------------------


def test_put_sets_the_url_and_returns_a_secret_that_get_only_hints_at(
    shop_user: User, shop_client: APIClient
) -> None:
    response = shop_client.put(URL, {"url": "https://hooks.example.com/mp"}, format="json")

    assert response.status_code == 200
    body = response.json()
    shop = Shop.objects.get(pk=shop_user.shop_id)
    assert body == {
        "enabled": True,
        "url": "https://hooks.example.com/mp",
        "secret": shop.webhook_secret,
        "secret_rotated": True,
        "secret_hint": f"whsec_...{shop.webhook_secret[-4:]}",
    }
    assert shop.webhook_url == "https://hooks.example.com/mp"
    assert shop.webhook_secret.startswith("whsec_")
    assert len(shop.webhook_secret) == len("whsec_") + 43

    shown = shop_client.get(URL)
    assert shown.status_code == 200
    assert shown.json() == {
        "enabled": True,
        "url": "https://hooks.example.com/mp",
        "secret_hint": body["secret_hint"],
    }
    assert shop.webhook_secret not in shown.content.decode()


def test_put_keeps_the_secret_unless_asked_to_rotate(
    shop_user: User, shop_client: APIClient
) -> None:
    first = configure(shop_client, "https://a.example.com/hook")

    again = shop_client.put(URL, {"url": "https://b.example.com/hook"}, format="json").json()
    assert (again["secret"], again["secret_rotated"], again["url"]) == (
        first,
        False,
        "https://b.example.com/hook",
    )

    rotated = shop_client.put(
        URL, {"url": "https://b.example.com/hook", "rotate_secret": True}, format="json"
    ).json()
    assert rotated["secret_rotated"] is True
    assert rotated["secret"] != first
    assert Shop.objects.get(pk=shop_user.shop_id).webhook_secret == rotated["secret"]


def test_get_before_any_setup_says_disabled(shop_client: APIClient) -> None:
    response = shop_client.get(URL)
    assert response.status_code == 200
    assert response.json() == {"enabled": False, "url": None, "secret_hint": None}


def test_delete_turns_webhooks_off_and_abandons_pending_deliveries(
    shop_user: User, shop_client: APIClient
) -> None:
    configure(shop_client, "https://hooks.example.com/mp")
    _, pending = cancel_job(shop_user.shop)

    response = shop_client.delete(URL)

    assert response.status_code == 204
    shop = Shop.objects.get(pk=shop_user.shop_id)
    assert (shop.webhook_url, shop.webhook_secret) == ("", "")
    pending.refresh_from_db()
    assert (pending.status, pending.attempt_count) == (WebhookStatus.GAVE_UP, 0)
    assert shop_client.get(URL).json() == {"enabled": False, "url": None, "secret_hint": None}
    # Later events write no outbox rows.
    job_transition(job=JobFactory(shop=shop), to=S.CANCELLED, actor=shop_user)
    assert WebhookDelivery.objects.filter(shop=shop).count() == 1
    # Turning on again makes a fresh secret.
    assert shop_client.put(URL, {"url": "https://hooks.example.com/mp"}, format="json").json()[
        "secret_rotated"
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "not a url"}, "url"),
        ({"url": "ftp://files.example.com/hook"}, "url"),
        ({"url": "https://example.com/" + "a" * 481}, "url"),  # 501 characters
        ({"url": ""}, "url"),
        ({"url": None}, "url"),
        ({"url": 12345}, "url"),
        ({"url": ["https://example.com/hook"]}, "url"),
        ({"url": {"href": "https://example.com/hook"}}, "url"),
        ({}, "url"),
        ({"url": "https://example.com/hook", "rotate_secret": "yes"}, "rotate_secret"),
        ({"url": "https://example.com/hook", "rotate_secret": 1}, "rotate_secret"),
        ({"url": "https://example.com/hook", "rotate_secret": None}, "rotate_secret"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_changes(
    shop_user: User, shop_client: APIClient, body: dict[str, Any], field: str
) -> None:
    secret = configure(shop_client, "https://hooks.example.com/mp")

    response = shop_client.put(URL, body, format="json")

    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "validation_error"
    assert list(response.json()["fields"]) == [field]
    shop = Shop.objects.get(pk=shop_user.shop_id)
    assert (shop.webhook_url, shop.webhook_secret) == ("https://hooks.example.com/mp", secret)


def test_a_body_that_is_not_an_object_is_refused(shop_client: APIClient) -> None:
    response = shop_client.put(URL, ["https://example.com/hook"], format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def test_url_of_exactly_500_characters_is_accepted(shop_client: APIClient) -> None:
    url = "https://example.com/" + "a" * 480
    assert len(url) == 500
    assert configure(shop_client, url).startswith("whsec_")


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/mp",
        "https://localhost/hook",
        "https://api.localhost/hook",
        "https://127.0.0.1:8443/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
    ],
)
def test_production_requires_https_to_a_public_address(
    settings: Any, shop_user: User, shop_client: APIClient, url: str
) -> None:
    settings.WEBHOOK_ALLOW_INSECURE_URLS = False

    response = shop_client.put(URL, {"url": url}, format="json")

    assert response.status_code == 400, response.json()
    assert list(response.json()["fields"]) == ["url"]
    assert Shop.objects.get(pk=shop_user.shop_id).webhook_url == ""


def test_production_accepts_an_https_public_url(settings: Any, shop_client: APIClient) -> None:
    settings.WEBHOOK_ALLOW_INSECURE_URLS = False
    assert configure(shop_client, "https://93.184.215.14/hooks").startswith("whsec_")


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", URL), ("put", URL), ("delete", URL), ("get", DELIVERIES_URL)],
)
def test_couriers_and_staff_get_403_and_strangers_401_with_nothing_changed(
    db: None, staff_user: User, method: str, path: str
) -> None:
    shop_user = ShopUserFactory()
    configure(client_for(shop_user), "https://hooks.example.com/mp")
    before = Shop.objects.values("webhook_url", "webhook_secret").get(pk=shop_user.shop_id)
    body = {"url": "https://evil.example.com/"}

    courier = CourierFactory()
    for client, expected in [
        (client_for(courier.user), 403),
        (client_for(staff_user), 403),
        (APIClient(), 401),
    ]:
        response = getattr(client, method)(path, body, format="json")
        assert response.status_code == expected, (client, response.json())
        assert response.json()["code"] in {"permission_denied", "not_authenticated"}

    after = Shop.objects.values("webhook_url", "webhook_secret").get(pk=shop_user.shop_id)
    assert after == before


# --- Signed delivery to a real receiver --------------------------------------------------


def test_a_delivery_is_a_signed_post_of_the_stored_body(
    shop_user: User, shop_client: APIClient, receiver: WebhookReceiver
) -> None:
    secret = configure(shop_client, receiver.url)
    job, delivery = cancel_job(shop_user.shop, shop_user)

    assert webhook_deliver(delivery_pk=delivery.pk) == "delivered"

    [request] = receiver.requests
    assert request.method == "POST"
    assert request.path == "/hooks/marketplace"
    assert request.body == delivery.body.encode()
    signature = request.headers[SIG]
    assert verify_signature(secret=secret, header=signature, body=request.body)
    assert not verify_signature(secret=secret + "x", header=signature, body=request.body)
    assert not verify_signature(secret=secret, header=signature, body=request.body + b" ")
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Marketplace-Event-Id"] == str(delivery.pk)
    assert request.headers["X-Marketplace-Event-Type"] == "job.cancelled"
    assert request.headers["X-Marketplace-Sequence"] == "1"
    assert json.loads(request.body) == {
        "id": str(delivery.pk),
        "type": "job.cancelled",
        "created_at": delivery.event.created_at.isoformat(),
        "data": {
            "job_id": str(job.pk),
            "external_ref": "",
            "seq": 1,
            "event_id": delivery.event.pk,
            "kind": "status",
            "actor": "shop",
            "from_status": "pending",
            "status": "cancelled",
            "courier_id": None,
            "reason": "changed my mind",
            "details": {},
        },
    }
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == (WebhookStatus.DELIVERED, 1)
    assert delivery.delivered_at is not None
    assert attempt_codes(delivery) == [200]
    assert delivery.attempts.get().error == ""
    # Sending again is a no-op.
    assert webhook_deliver(delivery_pk=delivery.pk) == "not_pending"
    assert len(receiver.requests) == 1


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    # printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
    header = webhook_signature(secret="whsec_test", timestamp=1700000000, body=b'{"a":1}')
    assert header == (
        "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
    )


def test_the_reference_check_refuses_a_stale_timestamp() -> None:
    body = b'{"a":1}'
    stale = webhook_signature(secret="whsec_test", timestamp=int(time.time()) - 301, body=body)
    fresh = webhook_signature(secret="whsec_test", timestamp=int(time.time()), body=body)
    assert not verify_signature(secret="whsec_test", header=stale, body=body)
    assert verify_signature(secret="whsec_test", header=fresh, body=body)


def test_at_send_time_production_also_resolves_the_host(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_INSECURE_URLS = False
    url = "https://hooks.example.invalid/mp"  # .invalid never resolves (RFC 2606)

    assert webhook_url_problem(url) is None  # the endpoint does not look names up
    problem = webhook_url_problem(url, resolve=True)
    assert problem is not None
    assert problem.startswith("Cannot resolve hooks.example.invalid")


def test_the_secret_in_use_is_the_current_one_at_send_time(
    shop_user: User, shop_client: APIClient, receiver: WebhookReceiver
) -> None:
    old = configure(shop_client, receiver.url)
    _, delivery = cancel_job(shop_user.shop)
    new = configure(shop_client, receiver.url, rotate_secret=True)

    assert webhook_deliver(delivery_pk=delivery.pk) == "delivered"

    [request] = receiver.requests
    assert verify_signature(secret=new, header=request.headers[SIG], body=request.body)
    assert not verify_signature(secret=old, header=request.headers[SIG], body=request.body)


def test_a_url_set_at_sign_up_gets_a_secret_at_first_send(
    shop_user: User, shop_client: APIClient, receiver: WebhookReceiver
) -> None:
    Shop.objects.filter(pk=shop_user.shop_id).update(webhook_url=receiver.url, webhook_secret="")
    _, delivery = cancel_job(Shop.objects.get(pk=shop_user.shop_id))

    assert webhook_deliver(delivery_pk=delivery.pk) == "delivered"

    secret = Shop.objects.get(pk=shop_user.shop_id).webhook_secret
    assert secret.startswith("whsec_")
    # The shop reads it with a PUT of the same URL (no rotation).
    assert configure(shop_client, receiver.url) == secret
    [request] = receiver.requests
    assert verify_signature(secret=secret, header=request.headers[SIG], body=request.body)


@pytest.mark.parametrize("failure", [500, 404, 302])
def test_a_failed_attempt_is_retried_after_backoff_and_every_attempt_is_kept(
    shop_user: User, shop_client: APIClient, receiver: WebhookReceiver, failure: int
) -> None:
    configure(shop_client, receiver.url)
    _, delivery = cancel_job(shop_user.shop)
    receiver.statuses.append(failure)

    before = timezone.now()
    assert webhook_deliver(delivery_pk=delivery.pk) == "retry"
    after = timezone.now()

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == (WebhookStatus.PENDING, 1)
    assert before + timedelta(seconds=30) <= delivery.next_attempt_at
    assert delivery.next_attempt_at <= after + timedelta(seconds=30)
    assert attempt_codes(delivery) == [failure]
    # Not due yet: nothing is sent.
    assert webhook_deliver(delivery_pk=delivery.pk) == "not_due"
    assert len(receiver.requests) == 1

    advance(delivery)
    assert webhook_deliver(delivery_pk=delivery.pk) == "delivered"

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == (WebhookStatus.DELIVERED, 2)
    assert attempt_codes(delivery) == [failure, 200]
    first, second = receiver.requests
    assert first.body == second.body == delivery.body.encode()
    assert first.headers["X-Marketplace-Event-Id"] == second.headers["X-Marketplace-Event-Id"]


def test_backoff_doubles_from_30_seconds_and_caps_at_an_hour() -> None:
    assert [webhook_backoff(n).total_seconds() for n in range(1, 11)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
        3600,
    ]


def test_a_hanging_receiver_times_out_into_a_retry(
    settings: Any, shop_user: User, shop_client: APIClient, receiver: WebhookReceiver
) -> None:
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    configure(shop_client, receiver.url)
    _, delivery = cancel_job(shop_user.shop)
    receiver.hang()

    assert webhook_deliver(delivery_pk=delivery.pk) == "retry"

    receiver.release()
    attempt = delivery.attempts.get()
    assert attempt.status_code is None
    assert "timed out" in attempt.error
    delivery.refresh_from_db()
    assert delivery.status == WebhookStatus.PENDING
    assert delivery.next_attempt_at > timezone.now()


def test_a_url_refused_by_policy_at_send_time_is_a_failed_attempt(
    settings: Any, shop_user: User, receiver: WebhookReceiver
) -> None:
    # e.g. a URL stored before the policy was tightened (an old row or a data import),
    # which never went through the webhook endpoint's checks
    Shop.objects.filter(pk=shop_user.shop_id).update(webhook_url=receiver.url)
    _, delivery = cancel_job(Shop.objects.get(pk=shop_user.shop_id))
    settings.WEBHOOK_ALLOW_INSECURE_URLS = False

    assert webhook_deliver(delivery_pk=delivery.pk) == "retry"

    assert receiver.requests == []
    assert delivery.attempts.get().error == "URL refused: Webhook URLs must use https://."


def test_turned_off_between_event_and_send_means_nothing_is_sent(
    shop_user: User, shop_client: APIClient, receiver: WebhookReceiver
) -> None:
    configure(shop_client, receiver.url)
    _, delivery = cancel_job(shop_user.shop)
    Shop.objects.filter(pk=shop_user.shop_id).update(webhook_url="")

    assert webhook_deliver(delivery_pk=delivery.pk) == "webhooks_off"

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == (WebhookStatus.GAVE_UP, 0)
    assert receiver.requests == []


def test_gives_up_when_the_next_retry_would_fall_outside_the_window(
    shop_user: User, shop_client: APIClient, receiver: WebhookReceiver
) -> None:
    configure(shop_client, receiver.url)
    _, delivery = cancel_job(shop_user.shop)
    window = timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        created_at=timezone.now() - window + timedelta(seconds=10)
    )
    receiver.statuses.append(503)

    assert webhook_deliver(delivery_pk=delivery.pk) == "gave_up"

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == (WebhookStatus.GAVE_UP, 1)
    assert attempt_codes(delivery) == [503]


def test_sweeper_gives_up_deliveries_past_the_window_without_sending(
    shop_user: User, shop_client: APIClient, receiver: WebhookReceiver
) -> None:
    configure(shop_client, receiver.url)
    _, old = cancel_job(shop_user.shop)
    _, fresh = cancel_job(shop_user.shop)
    window = timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS)
    WebhookDelivery.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - window - timedelta(hours=1)
    )
    WebhookDelivery.objects.filter(pk=fresh.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )

    assert webhook_sweep() == {"gave_up": 1, "queued": 0}

    old.refresh_from_db()
    fresh.refresh_from_db()
    assert (old.status, old.attempt_count) == (WebhookStatus.GAVE_UP, 0)
    assert fresh.status == WebhookStatus.PENDING
    assert webhook_deliver(delivery_pk=old.pk) == "not_pending"
    assert receiver.requests == []


# --- Outages, ordering and races (real commits) ------------------------------------------


@pytest.fixture
def tasks_run_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """django-q2's sync mode: async_task runs the task through a worker in this process."""
    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.mark.django_db(transaction=True)
def test_nothing_is_lost_while_the_receiver_is_down(
    monkeypatch: pytest.MonkeyPatch, shop_user: User, shop_client: APIClient
) -> None:
    port = free_port("127.0.0.1")
    down = WebhookReceiver(port=port)  # not started yet: connection refused
    secret = configure(shop_client, down.url)
    _, delivery = cancel_job(shop_user.shop)

    assert webhook_deliver(delivery_pk=delivery.pk) == "retry"

    delivery.refresh_from_db()
    assert delivery.status == WebhookStatus.PENDING
    assert delivery.next_attempt_at > timezone.now()
    attempt = delivery.attempts.get()
    assert attempt.status_code is None
    assert "Connection refused" in attempt.error
    assert webhook_sweep() == {"gave_up": 0, "queued": 0}  # not due yet

    with WebhookReceiver(port=port) as up:
        advance(delivery)
        monkeypatch.setattr(Conf, "SYNC", True)
        assert webhook_sweep() == {"gave_up": 0, "queued": 1}
        [request] = up.requests

    assert verify_signature(secret=secret, header=request.headers[SIG], body=request.body)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == (WebhookStatus.DELIVERED, 2)
    assert attempt_codes(delivery) == [None, 200]


def walk_job_through(shop: Shop, steps: list[JobStatus]) -> tuple[Job, list[WebhookDelivery]]:
    courier = CourierFactory(status=CourierStatus.AVAILABLE)
    job = JobFactory(shop=shop)
    deliveries = []
    for to in steps:
        job, event = job_transition(job=job, to=to, actor=None, courier=courier)
        deliveries.append(WebhookDelivery.objects.get(event=event))
    return job, deliveries


@pytest.mark.django_db(transaction=True)
def test_a_jobs_events_are_delivered_in_sequence_even_across_a_retry(
    monkeypatch: pytest.MonkeyPatch,
    shop_user: User,
    shop_client: APIClient,
    receiver: WebhookReceiver,
) -> None:
    configure(shop_client, receiver.url)
    _, (first, second, third) = walk_job_through(
        shop_user.shop, [S.ASSIGNED, S.AT_PICKUP, S.PICKED_UP]
    )
    receiver.statuses.append(500)

    assert webhook_deliver(delivery_pk=second.pk) == "waiting_for_earlier"
    assert webhook_deliver(delivery_pk=first.pk) == "retry"
    assert webhook_deliver(delivery_pk=third.pk) == "waiting_for_earlier"
    assert receiver.requests[0].headers["X-Marketplace-Sequence"] == "1"
    assert len(receiver.requests) == 1

    advance(first)
    monkeypatch.setattr(Conf, "SYNC", True)
    # Only the job's first pending event is queued; each delivery queues the next.
    assert webhook_sweep() == {"gave_up": 0, "queued": 1}

    sequences = [request.headers["X-Marketplace-Sequence"] for request in receiver.requests]
    assert sequences == ["1", "1", "2", "3"]
    statuses = WebhookDelivery.objects.filter(pk__in=[first.pk, second.pk, third.pk]).values_list(
        "status", flat=True
    )
    assert set(statuses) == {WebhookStatus.DELIVERED}


@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_never_send_the_same_attempt_twice(
    shop_user: User, shop_client: APIClient, receiver: WebhookReceiver
) -> None:
    configure(shop_client, receiver.url)
    deliveries = [cancel_job(shop_user.shop)[1] for _ in range(6)]
    pks = [delivery.pk for delivery in deliveries]

    def worker() -> list[str]:
        return [webhook_deliver(delivery_pk=pk) for pk in pks]

    results = race(worker, worker, worker, worker)

    assert not [r for r in results if isinstance(r, Exception)], results
    for index in range(len(pks)):
        outcomes = [result[index] for result in results]
        assert outcomes.count("delivered") == 1, outcomes
        assert set(outcomes) - {"delivered"} <= {"not_due", "not_pending"}, outcomes
    event_ids = [request.headers["X-Marketplace-Event-Id"] for request in receiver.requests]
    assert sorted(event_ids) == sorted(str(pk) for pk in pks)
    for delivery in deliveries:
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempt_count) == (WebhookStatus.DELIVERED, 1)
        assert attempt_codes(delivery) == [200]


def test_an_attempt_records_how_long_the_receiver_took(
    shop_client: APIClient, shop_user: User, receiver: WebhookReceiver
) -> None:
    configure(shop_client, receiver.url)
    _, delivery = cancel_job(shop_user.shop)
    receiver.hang()
    # The receiver answers no sooner than 300 ms after it has the request.
    threading.Thread(
        target=lambda: (receiver.wait_for(1), time.sleep(0.3), receiver.release()), daemon=True
    ).start()

    started = time.monotonic()
    assert webhook_deliver(delivery_pk=delivery.pk) == "delivered"
    elapsed_ms = (time.monotonic() - started) * 1000

    attempt = delivery.attempts.get()
    assert 300 <= attempt.duration_ms <= elapsed_ms


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("receiver_state", ["hanging", "down"])
def test_a_transition_commits_without_waiting_for_the_receiver(
    shop_user: User, shop_client: APIClient, receiver: WebhookReceiver, receiver_state: str
) -> None:
    configure(shop_client, receiver.url)
    if receiver_state == "hanging":
        receiver.hang()
    else:
        receiver.stop()
    job = JobFactory(shop=shop_user.shop)

    saved, event = job_transition(job=job, to=S.CANCELLED, actor=shop_user)

    # Another connection sees the committed job and its outbox row; nothing was sent.
    def read() -> tuple[str, str, int]:
        delivery = WebhookDelivery.objects.get(event_id=event.pk)
        return Job.objects.get(pk=saved.pk).status, delivery.status, delivery.attempt_count

    seen = on_another_connection(read)
    assert seen == (S.CANCELLED, WebhookStatus.PENDING, 0)
    assert receiver.requests == []
    receiver.release()


# --- Deliveries list ---------------------------------------------------------------------


def test_deliveries_list_shows_own_deliveries_with_attempts_paginated(
    shop_user: User, shop_client: APIClient, receiver: WebhookReceiver
) -> None:
    configure(shop_client, receiver.url)
    deliveries = [cancel_job(shop_user.shop)[1] for _ in range(3)]
    receiver.statuses.extend([500])
    assert webhook_deliver(delivery_pk=deliveries[0].pk) == "retry"
    advance(deliveries[0])
    assert webhook_deliver(delivery_pk=deliveries[0].pk) == "delivered"
    other = ShopUserFactory()
    configure(client_for(other), receiver.url)
    cancel_job(other.shop)

    with CaptureQueriesContext(connection) as queries:
        response = shop_client.get(DELIVERIES_URL, {"page_size": 2})
    assert response.status_code == 200
    # auth token, count, page, attempts prefetch
    assert len(queries) == 4
    page = response.json()
    assert page["count"] == 3
    assert page["next"] is not None
    assert [row["id"] for row in page["results"]] == [str(d.pk) for d in deliveries[:0:-1]]
    newest = page["results"][0]
    assert newest["status"] == "pending"
    assert newest["attempts"] == []
    assert newest["event_type"] == "job.cancelled"
    assert newest["seq"] == 1
    assert newest["url"] == receiver.url
    assert newest["next_attempt_at"] is not None

    last = shop_client.get(DELIVERIES_URL, {"page_size": 2, "page": 2}).json()
    [oldest] = last["results"]
    assert oldest["id"] == str(deliveries[0].pk)
    assert oldest["job_id"] == str(deliveries[0].event.job_id)
    assert oldest["status"] == "delivered"
    assert oldest["attempt_count"] == 2
    assert oldest["next_attempt_at"] is None
    assert [a["status_code"] for a in oldest["attempts"]] == [500, 200]
    assert [a["error"] for a in oldest["attempts"]] == ["", ""]

    delivered = shop_client.get(DELIVERIES_URL, {"status": "delivered"}).json()
    assert [row["id"] for row in delivered["results"]] == [str(deliveries[0].pk)]


def test_deliveries_list_refuses_an_unknown_status_filter(shop_client: APIClient) -> None:
    response = shop_client.get(DELIVERIES_URL, {"status": "exploded"})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["status"]


# --- A real django-q2 cluster ------------------------------------------------------------


@pytest.fixture
def webhook_cluster(django_db_setup: None) -> Iterator[subprocess.Popen]:
    """A real webhook cluster (two workers) on this slot's test database."""
    with running_cluster(
        cluster=settings.WEBHOOK_CLUSTER, Q_WEBHOOK_WORKERS="2", WEBHOOK_ALLOW_INSECURE_URLS="true"
    ) as process:
        yield process


@pytest.mark.django_db(transaction=True)
def test_end_to_end_through_a_real_cluster(
    webhook_cluster: subprocess.Popen,
    shop_user: User,
    shop_client: APIClient,
    receiver: WebhookReceiver,
) -> None:
    secret = configure(shop_client, receiver.url)

    _, deliveries = walk_job_through(shop_user.shop, [S.ASSIGNED, S.AT_PICKUP, S.PICKED_UP])

    requests = receiver.wait_for(3)
    assert [r.headers["X-Marketplace-Sequence"] for r in requests] == ["1", "2", "3"]
    for request, delivery in zip(requests, deliveries, strict=True):
        assert verify_signature(secret=secret, header=request.headers[SIG], body=request.body)
        assert request.body == delivery.body.encode()
        assert request.headers["X-Marketplace-Event-Id"] == str(delivery.pk)
    assert [r.headers["X-Marketplace-Event-Type"] for r in requests] == [
        "job.assigned",
        "job.at_pickup",
        "job.picked_up",
    ]
    pks = [delivery.pk for delivery in deliveries]
    assert wait_for(
        lambda: (
            WebhookDelivery.objects.filter(pk__in=pks, status=WebhookStatus.DELIVERED).count() == 3
        ),
        20,
    )
    assert len(receiver.requests) == 3


def test_the_sweeper_is_scheduled_every_minute() -> None:
    from marketplace.schedules import PERIODIC_TASKS

    [task] = [task for task in PERIODIC_TASKS if task.func == "jobs.webhooks.webhook_sweep_task"]
    assert task.minutes == 1


@pytest.mark.django_db
def test_the_sweeper_runs_on_the_webhook_cluster_and_everything_else_on_the_main_one() -> None:
    from django_q.models import Schedule

    from marketplace.schedules import PERIODIC_TASKS, schedules_sync

    schedules_sync()

    clusters = dict(Schedule.objects.values_list("func", "cluster"))
    assert (
        clusters.pop("jobs.webhooks.webhook_sweep_task") == settings.WEBHOOK_CLUSTER == "webhooks"
    )
    assert set(clusters.values()) == {None}
    assert len(clusters) == len(PERIODIC_TASKS) - 1


def test_an_event_that_is_not_a_status_change_has_one_type_in_body_header_and_list(
    shop_user: User, shop_client: APIClient, receiver: WebhookReceiver
) -> None:
    configure(shop_client, receiver.url)
    job = JobFactory(shop=shop_user.shop, status=S.PENDING)
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        event = job_record_event(
            job=locked, kind=EventKind.INSTRUCTIONS, actor=None, data={"instructions": "Ring 3"}
        )
    delivery = WebhookDelivery.objects.get(event=event)

    assert webhook_deliver(delivery_pk=delivery.pk) == "delivered"

    [request] = receiver.requests
    assert json.loads(request.body)["type"] == "job.instructions_updated"
    assert request.headers["X-Marketplace-Event-Type"] == "job.instructions_updated"
    [listed] = shop_client.get(DELIVERIES_URL).json()["results"]
    assert (listed["id"], listed["event_type"]) == (str(delivery.pk), "job.instructions_updated")
