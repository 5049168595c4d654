"""A shop endpoint that hangs never delays dispatch: webhooks have their own cluster.

Real clusters (the main one and the webhook one, one worker each), a real receiver that
accepts connections and never answers, and twelve sends queued to it before an unrelated
job is posted.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import close_old_connections

from jobs.lifecycle import job_transition
from jobs.models import JobStatus, Offer, WebhookDelivery
from marketplace.models import User
from tests.factories import JobFactory, ShopUserFactory
from tests.jobs.dispatch_helpers import courier_at, pending_job
from tests.jobs.webhook_receiver import WebhookReceiver
from tests.workers import running_cluster, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

HANGING_SENDS = 12
# Each send to the hanging receiver holds a worker this long.
SEND_TIMEOUT_SECONDS = "5"


@pytest.fixture
def both_clusters(django_db_setup: None) -> Iterator[tuple[subprocess.Popen, subprocess.Popen]]:
    env = {
        "WEBHOOK_ALLOW_INSECURE_URLS": "true",
        "WEBHOOK_TIMEOUT_SECONDS": SEND_TIMEOUT_SECONDS,
        "DISPATCH_MODE": "sequential",
        "DISPATCH_RADII_M": "3000,6000,12000",
    }
    with (
        running_cluster(**env) as main,
        running_cluster(cluster=settings.WEBHOOK_CLUSTER, **env) as webhooks,
    ):
        yield main, webhooks


@pytest.fixture
def hanging_receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        receiver.hang()
        yield receiver


def test_an_unrelated_job_is_offered_within_a_second_while_a_shop_endpoint_hangs(
    settings, both_clusters: tuple, hanging_receiver: WebhookReceiver
) -> None:
    settings.WEBHOOK_ALLOW_INSECURE_URLS = True
    slow_shop = ShopUserFactory().shop
    slow_shop.webhook_url = hanging_receiver.url
    slow_shop.webhook_secret = "whsec_" + "s" * 43
    slow_shop.save(update_fields=["webhook_url", "webhook_secret"])
    # One event on each of twelve jobs: sends for different jobs do not wait for each other.
    for _ in range(HANGING_SENDS):
        job_transition(job=JobFactory(shop=slow_shop), to=JobStatus.CANCELLED, actor=None)
    assert WebhookDelivery.objects.filter(event__job__shop=slow_shop).count() == HANGING_SENDS
    # A worker is stuck in a send: the receiver has the request and does not answer.
    assert len(hanging_receiver.wait_for(1, timeout=20)) >= 1

    courier = courier_at(500)
    other_shop: User = ShopUserFactory()
    job = pending_job(shop=other_shop.shop)  # on commit: the dispatch task is queued

    def first_offer() -> Offer | None:
        close_old_connections()
        return Offer.objects.filter(job=job).order_by("created_at").first()

    assert wait_for(first_offer, 60), "no offer within 60 s"
    offer = first_offer()
    assert offer.courier_id == courier.pk
    job.refresh_from_db()
    # Offer creation vs posting, as stamped on the rows (one machine, one clock): not how
    # fast this test process happens to poll.
    delay = (offer.created_at - job.created_at).total_seconds()
    assert delay < 1.0, f"first offer came {delay:.2f} s after posting"
    hanging_receiver.release()
