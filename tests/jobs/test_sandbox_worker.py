"""The built-in robo courier on a real django-q2 cluster: a sandbox job walked to the end
(delivered, or failed and returned) with the same events, webhooks and money steps as a
job a real courier walks through the API."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import redis
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections

from couriers.models import Courier, CourierStatus, LocationPing
from jobs.models import Job, JobEvent, JobStatus, Offer, OfferStatus, WebhookDelivery
from marketplace.models import User
from marketplace.realtime.groups import shop_group
from payments.models import JobPayment, MoneyCommand
from tests.conftest import client_for
from tests.factories import ShopUserFactory
from tests.jobs.conftest import ALEXANDERPLATZ as PICKUP_POINT
from tests.jobs.conftest import POTSDAMER_PLATZ as DROPOFF_POINT
from tests.jobs.conftest import trip_body
from tests.jobs.dispatch_helpers import courier_at
from tests.workers import running_cluster, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

HOOK = "https://shop.example.invalid/hooks"  # never sent: no webhook cluster runs here


class GroupTap:
    """Every frame the platform publishes to some socket groups, read straight off the
    channel layer's Redis channels (what the shop's open socket would be sent)."""

    def __init__(self, groups: list[str]) -> None:
        self.layer = get_channel_layer()
        prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
        self.names = {f"{prefix}__group__{group}": group for group in groups}
        self.frames: dict[str, list[dict[str, Any]]] = {group: [] for group in groups}
        self.client = redis.Redis.from_url(settings.REDIS_URL)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(*self.names)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            message = self.pubsub.get_message(timeout=0.2)
            if message is None:
                continue
            group = self.names[message["channel"].decode()]
            self.frames[group].append(self.layer.deserialize(message["data"])["payload"])

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.pubsub.close()
        self.client.close()

    def types(self, group: str) -> list[str]:
        return [f["type"] for f in self.frames[group] if f["type"] != "courier_location"]


def fresh(predicate: Any) -> Any:
    def check() -> Any:
        close_old_connections()
        return predicate()

    return check


def history(job_id: object) -> list[tuple[str, str, str, str]]:
    return list(
        JobEvent.objects.filter(job_id=job_id)
        .order_by("seq")
        .values_list("kind", "from_status", "to_status", "actor_role")
    )


def webhook_types(job_id: object) -> list[str]:
    bodies = WebhookDelivery.objects.filter(event__job_id=job_id).order_by("event__seq")
    return [json.loads(delivery.body)["type"] for delivery in bodies]


def money(job_id: object) -> tuple[str, int, list[str]]:
    payment = JobPayment.objects.get(job_id=job_id)
    kinds = sorted(MoneyCommand.objects.filter(job_id=job_id).values_list("kind", flat=True))
    return payment.status, payment.captured_minor, kinds


def settled(job_id: object, status: str) -> bool:
    return (
        Job.objects.filter(pk=job_id, status=status).exists()
        and not MoneyCommand.objects.filter(job_id=job_id, state__in=["pending", "running"])
        .exclude(kind="transfer")
        .exists()
    )


def walk_by_hand(shop: User, courier: Courier, outcome: str) -> str:
    """A real courier takes a job through the API: accept the offer, then every step."""
    posted = client_for(shop).post("/api/v1/jobs/", trip_body(pin_required=True), format="json")
    assert posted.status_code == 201, posted.json()
    job_id, pin = posted.json()["id"], posted.json()["recipient_pin"]
    offer = wait_for(
        fresh(
            lambda: Offer.objects.filter(
                job_id=job_id, courier=courier, status=OfferStatus.PENDING
            ).first()
        ),
        30,
    )
    assert offer, "dispatch on the cluster made no offer"
    app = client_for(courier.user)
    offer_pk = Offer.objects.get(job_id=job_id, courier=courier).pk
    assert app.post(f"/api/v1/courier/offers/{offer_pk}/accept/").status_code == 200
    steps: list[tuple[str, dict[str, Any]]] = [
        ("arrive-pickup", {"position": PICKUP_POINT}),
        ("pickup", {"position": PICKUP_POINT}),
    ]
    failure = {"reason": "other", "note": "Test failure"}
    if outcome == "pickup":
        steps += [("fail", {**failure, "position": PICKUP_POINT})]
    else:
        steps += [("arrive-dropoff", {"position": DROPOFF_POINT})]
        if outcome == "dropoff":
            steps += [("fail", {**failure, "position": DROPOFF_POINT})]
        else:
            steps += [("deliver", {"position": DROPOFF_POINT, "pin": pin})]
    if outcome != "delivered":
        steps += [("returned", {"position": PICKUP_POINT})]
    for step, body in steps:
        answer = app.post(f"/api/v1/courier/jobs/{job_id}/{step}/", body, format="json")
        assert answer.status_code == 200, (step, answer.json())
    return job_id


START = ["pending", "assigned", "at_pickup", "picked_up"]
PATHS = {
    None: [*START, "at_dropoff", "delivered"],
    "pickup": [*START, "failed", "returning", "returned"],
    "dropoff": [*START, "at_dropoff", "failed", "returning", "returned"],
}


@pytest.mark.parametrize("fail_at", [None, "pickup", "dropoff"])
def test_the_robo_courier_walks_a_sandbox_job_like_a_real_courier(zone, fail_at) -> None:
    end = JobStatus.DELIVERED if fail_at is None else JobStatus.RETURNED
    sandbox_shop = ShopUserFactory(shop__is_sandbox=True, shop__webhook_url=HOOK)
    real_shop = ShopUserFactory(shop__webhook_url=HOOK)
    real_courier = courier_at(100)
    spec = {"robo_courier": {"mode": "auto", "step_delay_s": 0, "fail_at": fail_at}}

    groups = [shop_group(sandbox_shop.shop_id), shop_group(real_shop.shop_id)]
    tap = GroupTap(groups)
    with running_cluster():
        posted = client_for(sandbox_shop).post(
            "/api/v1/jobs/", trip_body(pin_required=True, test_specifications=spec), format="json"
        )
        assert posted.status_code == 201, posted.json()
        robo_job = posted.json()["id"]
        real_job = walk_by_hand(real_shop, real_courier, fail_at or "delivered")

        assert wait_for(fresh(lambda: settled(robo_job, end)), 60), history(robo_job)
        assert wait_for(fresh(lambda: settled(real_job, end)), 60), history(real_job)
    tap.stop()

    robo_history = history(robo_job)
    assert robo_history == history(real_job)
    assert [to for _, _, to, _ in robo_history] == PATHS[fail_at]
    assert {actor for *_, actor in robo_history[1:]} == {"courier"}
    assert webhook_types(robo_job) == webhook_types(real_job)
    assert webhook_types(robo_job) == [f"job.{status}" for status in PATHS[fail_at]]
    # The shop's socket got the same frames (job_update and the job.* events) for both.
    robo_frames, real_frames = tap.types(groups[0]), tap.types(groups[1])
    assert robo_frames == real_frames
    assert [t for t in robo_frames if t.startswith("job.")] == [
        f"job.{status}" for status in PATHS[fail_at]
    ]
    robo_money, real_money = money(robo_job), money(real_job)
    assert (robo_money[0], robo_money[2]) == (real_money[0], real_money[2])
    assert robo_money[0] == "captured"
    assert "capture" in robo_money[2]
    robo = Job.objects.select_related("courier").get(pk=robo_job).courier
    assert robo.is_robo
    assert robo.status == CourierStatus.OFFLINE
    assert real_courier.pk != robo.pk
    assert LocationPing.objects.filter(courier=robo).count() >= 6
    # The robo courier was never offered the real job, nor the real courier the robo's.
    assert not Offer.objects.filter(job_id=real_job, courier__is_robo=True).exists()
    assert not Offer.objects.filter(job_id=robo_job, courier__is_robo=False).exists()
