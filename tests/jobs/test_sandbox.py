"""The sandbox: test_specifications on posting, advancing a sandbox job by hand with the
built-in robo courier, the robo/sandbox matching rule, and sandbox money with a live key."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from couriers.models import Courier, CourierStatus, LocationPing
from jobs.dispatch import dispatch_job
from jobs.models import Job, JobEvent, JobPhoto, JobStatus, Offer, ProofOfDelivery
from jobs.sandbox.robots import ROBO_USERNAME_PREFIX
from marketplace.models import User
from payments.models import (
    CommandState,
    CourierPayoutAccount,
    JobPayment,
    MoneyCommand,
    ShopBilling,
)
from payments.outbox import command_run
from tests.conftest import client_for
from tests.factories import CourierFactory, JobFactory, ShopUserFactory
from tests.jobs.conftest import trip_body
from tests.jobs.dispatch_helpers import courier_at

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/jobs/"
MANUAL = {"robo_courier": {"mode": "manual"}}


def advance_url(job_id: object) -> str:
    return f"/api/v1/sandbox/jobs/{job_id}/advance/"


@pytest.fixture
def sandbox_user(db: None) -> User:
    return ShopUserFactory(shop__is_sandbox=True)


@pytest.fixture
def sandbox_client(sandbox_user: User) -> APIClient:
    return client_for(sandbox_user)


def post_job(client: APIClient, **overrides: Any) -> Any:
    return client.post(JOBS, trip_body(**overrides), format="json")


def statuses(job_id: object) -> list[tuple[str, str]]:
    return list(
        JobEvent.objects.filter(job_id=job_id)
        .order_by("seq")
        .values_list("from_status", "to_status")
    )


# --- test_specifications on POST jobs/ -----------------------------------------------------


def test_a_sandbox_shop_stores_its_test_specifications_with_defaults(sandbox_client, zone) -> None:
    response = post_job(sandbox_client, test_specifications={"robo_courier": {"mode": "auto"}})

    assert response.status_code == 201, response.json()
    expected = {"robo_courier": {"mode": "auto", "step_delay_s": 30, "fail_at": None}}
    assert response.json()["test_specifications"] == expected
    job = Job.objects.get(pk=response.json()["id"])
    assert job.test_specifications == expected
    detail = sandbox_client.get(f"{JOBS}{job.pk}/")
    assert detail.json()["test_specifications"] == expected


def test_every_field_is_kept_as_given(sandbox_client, zone) -> None:
    spec = {"robo_courier": {"mode": "manual", "step_delay_s": 600, "fail_at": "dropoff"}}

    response = post_job(sandbox_client, test_specifications=spec)

    assert response.status_code == 201, response.json()
    assert response.json()["test_specifications"] == spec


def test_a_job_without_them_shows_null(sandbox_client, shop_client, zone) -> None:
    assert post_job(sandbox_client).json()["test_specifications"] is None
    assert post_job(shop_client).json()["test_specifications"] is None


def test_another_shop_may_not_send_test_specifications(shop_client, shop_user, zone) -> None:
    response = post_job(shop_client, test_specifications={"robo_courier": {"mode": "auto"}})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "test_specifications_sandbox_only"
    assert list(body["fields"]) == ["test_specifications"]
    assert not Job.objects.exists()
    assert not JobPayment.objects.exists()


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ("auto", "test_specifications"),
        ([], "test_specifications"),
        ({}, "test_specifications.robo_courier"),
        ({"robo_courier": None}, "test_specifications.robo_courier"),
        ({"robo_courier": {}, "other": 1}, "test_specifications.other"),
        ({"robo_courier": {"speed": 3}}, "test_specifications.robo_courier.speed"),
        ({"robo_courier": {"mode": "fast"}}, "test_specifications.robo_courier.mode"),
        ({"robo_courier": {"mode": 1}}, "test_specifications.robo_courier.mode"),
        ({"robo_courier": {"mode": None}}, "test_specifications.robo_courier.mode"),
        ({"robo_courier": {"step_delay_s": -1}}, "test_specifications.robo_courier.step_delay_s"),
        ({"robo_courier": {"step_delay_s": 601}}, "test_specifications.robo_courier.step_delay_s"),
        ({"robo_courier": {"step_delay_s": "5"}}, "test_specifications.robo_courier.step_delay_s"),
        ({"robo_courier": {"step_delay_s": 1.5}}, "test_specifications.robo_courier.step_delay_s"),
        ({"robo_courier": {"step_delay_s": True}}, "test_specifications.robo_courier.step_delay_s"),
        ({"robo_courier": {"fail_at": "halfway"}}, "test_specifications.robo_courier.fail_at"),
        ({"robo_courier": {"fail_at": 1}}, "test_specifications.robo_courier.fail_at"),
    ],
)
def test_a_bad_shape_is_400_naming_the_field(sandbox_client, zone, spec, field) -> None:
    response = post_job(sandbox_client, test_specifications=spec)

    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "validation_error"
    assert list(body["fields"]) == [field]
    assert field in body["message"]
    assert not Job.objects.exists()


def test_null_test_specifications_is_400(sandbox_client, zone) -> None:
    response = post_job(sandbox_client, test_specifications=None)

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["test_specifications"]
    assert not Job.objects.exists()


# --- Advance by hand -------------------------------------------------------------------------


def advance(client: APIClient, job_id: object) -> Any:
    return client.post(advance_url(job_id), format="json")


def test_advance_walks_a_sandbox_job_step_by_step_to_delivered_then_409(
    sandbox_client, zone
) -> None:
    posted = post_job(sandbox_client, test_specifications=MANUAL, pin_required=True)
    job_id = posted.json()["id"]

    seen = []
    for _ in range(5):
        response = advance(sandbox_client, job_id)
        assert response.status_code == 200, response.json()
        seen.append(response.json()["status"])
    last = advance(sandbox_client, job_id)

    assert seen == ["assigned", "at_pickup", "picked_up", "at_dropoff", "delivered"]
    assert last.status_code == 409
    assert last.json()["code"] == "invalid_transition"
    assert statuses(job_id) == [
        ("", "pending"),
        ("pending", "assigned"),
        ("assigned", "at_pickup"),
        ("at_pickup", "picked_up"),
        ("picked_up", "at_dropoff"),
        ("at_dropoff", "delivered"),
    ]
    job = Job.objects.select_related("courier__user").get(pk=job_id)
    robo = job.courier
    assert robo.is_robo
    assert robo.user.username.startswith(ROBO_USERNAME_PREFIX)
    assert not robo.user.has_usable_password()
    assert robo.status == CourierStatus.OFFLINE  # rests once the walk is over
    proof = ProofOfDelivery.objects.get(job=job)
    assert proof.is_pin_verified is True
    assert proof.is_outside_geofence is False
    assert proof.distance_to_dropoff_m == 0
    # Positions along the way, through location ingestion.
    pings = list(LocationPing.objects.filter(courier=robo).order_by("recorded_at"))
    assert len(pings) == 11  # the first fix, then 5 to the pickup and 5 to the dropoff
    assert (pings[-1].point.x, pings[-1].point.y) == (job.dropoff_point.x, job.dropoff_point.y)
    assert (robo.current_point.x, robo.current_point.y) == (
        job.dropoff_point.x,
        job.dropoff_point.y,
    )
    # The accepted offer is the robo courier's, through offer_accept.
    (offer,) = Offer.objects.filter(job=job)
    assert (offer.courier_id, offer.status) == (robo.pk, "accepted")
    # Money: the delivery's capture command, like any other delivery.
    assert MoneyCommand.objects.filter(job_id=job.pk, kind="capture").count() == 1


def test_advance_works_without_test_specifications(sandbox_client, zone) -> None:
    job_id = post_job(sandbox_client).json()["id"]

    response = advance(sandbox_client, job_id)

    assert response.status_code == 200
    assert response.json()["status"] == "assigned"
    assert Job.objects.get(pk=job_id).courier.is_robo


def test_advance_a_leave_at_door_job_delivers_with_a_photo(sandbox_client, zone) -> None:
    job_id = post_job(
        sandbox_client, test_specifications=MANUAL, delivery_option="leave_at_door"
    ).json()["id"]

    for _ in range(5):
        assert advance(sandbox_client, job_id).status_code == 200

    proof = ProofOfDelivery.objects.select_related("photo").get(job_id=job_id)
    assert proof.photo is not None
    assert proof.photo.content_type == "image/png"
    assert JobPhoto.objects.filter(job_id=job_id, kind="delivery").count() == 1


def test_advance_a_locker_job_delivers_to_its_locker(sandbox_client, zone) -> None:
    job_id = post_job(
        sandbox_client, test_specifications=MANUAL, delivery_option="locker", locker_id="L-17"
    ).json()["id"]

    for _ in range(5):
        assert advance(sandbox_client, job_id).status_code == 200

    assert Job.objects.get(pk=job_id).status == JobStatus.DELIVERED


@pytest.mark.parametrize(
    ("fail_at", "path"),
    [
        ("pickup", ["assigned", "at_pickup", "picked_up", "returning", "returned"]),
        ("dropoff", ["assigned", "at_pickup", "picked_up", "at_dropoff", "returning", "returned"]),
    ],
)
def test_advance_with_fail_at_fails_and_brings_the_package_back(
    sandbox_client, zone, fail_at, path
) -> None:
    spec = {"robo_courier": {"mode": "manual", "fail_at": fail_at}}
    job_id = post_job(sandbox_client, test_specifications=spec).json()["id"]

    seen = [advance(sandbox_client, job_id).json()["status"] for _ in path]

    assert seen == path
    assert advance(sandbox_client, job_id).status_code == 409
    moves = [to for _, to in statuses(job_id)]
    assert moves[-3:] == ["failed", "returning", "returned"]
    failed = JobEvent.objects.get(job_id=job_id, to_status="failed")
    assert failed.data["reason_code"] == "other"
    assert fail_at in failed.data["note"]
    job = Job.objects.select_related("courier").get(pk=job_id)
    assert (job.courier.current_point.x, job.courier.current_point.y) == (
        job.pickup_point.x,
        job.pickup_point.y,
    )
    assert job.courier.status == CourierStatus.OFFLINE


def test_advance_is_404_for_other_shops_and_real_shops_and_changes_nothing(
    sandbox_client, shop_client, shop_user, zone
) -> None:
    sandbox_job = post_job(sandbox_client, test_specifications=MANUAL).json()["id"]
    real_job = post_job(shop_client).json()["id"]
    other_sandbox = client_for(ShopUserFactory(shop__is_sandbox=True))
    couriers_before = Courier.objects.count()

    answers = [
        advance(other_sandbox, sandbox_job),  # another sandbox shop's job
        advance(shop_client, sandbox_job),  # a real shop, someone else's job
        advance(shop_client, real_job),  # a real shop's own job
        advance(sandbox_client, real_job),  # a sandbox shop, a real shop's job
        advance(sandbox_client, "5b0b1f7e-6a4c-4a53-9d4b-000000000000"),  # nobody's
    ]

    assert [a.status_code for a in answers] == [404] * 5
    assert {a.json()["code"] for a in answers} == {"not_found"}
    assert Job.objects.get(pk=sandbox_job).status == JobStatus.PENDING
    assert Job.objects.get(pk=real_job).status == JobStatus.PENDING
    assert JobEvent.objects.count() == 2
    assert Courier.objects.count() == couriers_before
    assert not Offer.objects.exists()


def test_advance_needs_a_shop(sandbox_client, courier_client, api_client, zone) -> None:
    job_id = post_job(sandbox_client, test_specifications=MANUAL).json()["id"]

    assert advance(courier_client, job_id).status_code == 403
    assert advance(api_client, job_id).status_code == 401
    assert Job.objects.get(pk=job_id).status == JobStatus.PENDING


def test_advance_a_cancelled_job_is_409(sandbox_client, zone) -> None:
    job_id = post_job(sandbox_client, test_specifications=MANUAL).json()["id"]
    sandbox_client.post(f"{JOBS}{job_id}/cancel/", {"reason": "test"}, format="json")

    response = advance(sandbox_client, job_id)

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    assert response.json()["fields"] == {"status": ["cancelled"]}


def test_the_advance_endpoint_is_in_the_schema_with_its_errors(api_client) -> None:
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    operation = schema["paths"]["/api/v1/sandbox/jobs/{id}/advance/"]["post"]
    assert {"200", "404", "409"} <= set(operation["responses"])
    assert "invalid_transition" in operation["responses"]["409"]["description"]
    create = schema["paths"]["/api/v1/jobs/"]["post"]["requestBody"]["content"]
    body_schema = create["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "test_specifications" in schema["components"]["schemas"][body_schema]["properties"]


# --- Matching: sandbox jobs to robo couriers only, and robo couriers to sandbox jobs only ----


def test_a_real_courier_is_never_offered_a_sandbox_job_nor_a_robo_courier_a_real_job(
    settings,
) -> None:
    settings.DISPATCH_MODE = "broadcast"
    settings.DISPATCH_BROADCAST_SIZE = 5
    real = [courier_at(100), courier_at(200)]
    robo = [courier_at(150, is_robo=True), courier_at(250, is_robo=True)]
    sandbox_job = JobFactory(shop__is_sandbox=True)
    real_job = JobFactory()

    sandbox_offers = dispatch_job(job_pk=sandbox_job.pk).offers
    real_offers = dispatch_job(job_pk=real_job.pk).offers

    assert sorted(o.courier_id for o in sandbox_offers) == sorted(c.pk for c in robo)
    assert sorted(o.courier_id for o in real_offers) == sorted(c.pk for c in real)


def test_a_sandbox_job_with_only_real_couriers_near_is_not_offered_to_them() -> None:
    courier_at(100)
    job = JobFactory(shop__is_sandbox=True)

    result = dispatch_job(job_pk=job.pk)

    assert result.outcome == "unassigned"
    assert not Offer.objects.filter(job=job).exists()


def test_a_quote_for_a_sandbox_shop_counts_robo_couriers_only(
    sandbox_client, shop_client, zone
) -> None:
    courier_at(100, is_robo=True)

    sandbox_quote = sandbox_client.post("/api/v1/quotes/", trip_body(), format="json").json()
    real_quote = shop_client.post("/api/v1/quotes/", trip_body(), format="json").json()

    assert sandbox_quote["pickup_eta_source"] == "nearest_courier"
    assert real_quote["pickup_eta_source"] == "default"
    assert real_quote["pickup_eta_s"] == settings.QUOTE_DEFAULT_PICKUP_ETA_SECONDS


def test_a_manual_robo_job_is_offered_to_nobody_by_dispatch(sandbox_user) -> None:
    courier_at(100, is_robo=True)
    job = JobFactory(shop=sandbox_user.shop, test_specifications=MANUAL_STORED)

    result = dispatch_job(job_pk=job.pk)

    assert result.outcome == "sandbox"
    assert Job.objects.get(pk=job.pk).status == JobStatus.PENDING
    assert not Offer.objects.filter(job=job).exists()


MANUAL_STORED = {"robo_courier": {"mode": "manual", "step_delay_s": 30, "fail_at": None}}


# --- Money with a live key -------------------------------------------------------------------


def test_a_sandbox_shop_cannot_post_with_a_live_key(sandbox_client, zone, settings) -> None:
    settings.STRIPE_SECRET_KEY = "sk_live_not_a_real_key"

    response = post_job(sandbox_client, test_specifications=MANUAL)

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "sandbox_live_key"
    assert "sk_test_" in body["message"]
    assert not Job.objects.exists()
    assert not JobPayment.objects.exists()


def test_a_sandbox_shop_cannot_set_a_card_with_a_live_key(sandbox_user, settings) -> None:
    client = client_for(ShopUserFactory(shop__is_sandbox=True, shop__payment_method=False))
    settings.STRIPE_SECRET_KEY = "sk_live_not_a_real_key"

    response = client.put(
        "/api/v1/payments/shop/payment-method/", {"payment_method": "pm_card_visa"}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "sandbox_live_key"


def test_a_sandbox_shop_cannot_make_a_setup_intent_with_a_live_key(sandbox_user, settings) -> None:
    user = ShopUserFactory(shop__is_sandbox=True, shop__payment_method=False)
    sandbox_shop = user.shop
    client = client_for(user)
    settings.STRIPE_SECRET_KEY = "sk_live_not_a_real_key"

    response = client.post("/api/v1/payments/shop/setup-intent/")

    assert response.status_code == 409
    assert response.json()["code"] == "sandbox_live_key"
    assert not ShopBilling.objects.filter(shop=sandbox_shop).exists()


def test_a_robo_courier_cannot_onboard_with_a_live_key(db: None, settings) -> None:
    robo = CourierFactory(is_robo=True)
    settings.STRIPE_SECRET_KEY = "sk_live_not_a_real_key"

    response = client_for(robo.user).post("/api/v1/courier/payouts/onboarding/")

    assert response.status_code == 409
    assert response.json()["code"] == "sandbox_live_key"
    assert "robo courier" in response.json()["message"]
    assert not CourierPayoutAccount.objects.exists()


def test_a_sandbox_jobs_capture_fails_with_a_live_key_and_never_reaches_stripe(
    sandbox_client, zone, settings
) -> None:
    job_id = post_job(sandbox_client, test_specifications=MANUAL).json()["id"]
    for _ in range(5):
        advance(sandbox_client, job_id)
    capture = MoneyCommand.objects.get(job_id=job_id, kind="capture")
    settings.STRIPE_SECRET_KEY = "sk_live_not_a_real_key"

    state = command_run(pk=capture.pk)

    capture.refresh_from_db()
    assert state == CommandState.FAILED
    assert "sandbox" in capture.last_error
    assert capture.last_error.startswith("SandboxLiveKeyCommand")
    assert JobPayment.objects.get(job_id=job_id).captured_minor == 0


# --- The automatic walk's steps (the worker test runs them on a real cluster) ---------------


def test_an_auto_step_queues_the_next_after_step_delay_s(sandbox_client, zone) -> None:
    from django.utils import timezone
    from django_q.models import Schedule

    from jobs.sandbox.queue import ROBO_STEP_TASK
    from jobs.sandbox.services import robo_walk_step

    spec = {"robo_courier": {"mode": "auto", "step_delay_s": 45}}
    job_id = post_job(sandbox_client, test_specifications=spec).json()["id"]
    before = timezone.now()

    status = robo_walk_step(job_pk=job_id)

    after = timezone.now()
    assert status == "assigned"
    (schedule,) = Schedule.objects.filter(func=ROBO_STEP_TASK)
    assert schedule.args == repr(job_id)
    assert schedule.schedule_type == Schedule.ONCE
    assert before + timedelta(seconds=45) <= schedule.next_run <= after + timedelta(seconds=45)


def test_a_step_is_taken_once_whichever_task_gets_there_first(sandbox_client, zone) -> None:
    from jobs.sandbox.services import _claim, robo_walk_step

    spec = {"robo_courier": {"mode": "auto", "step_delay_s": 0}}
    job_id = post_job(sandbox_client, test_specifications=spec).json()["id"]
    job = Job.objects.get(pk=job_id)
    assert _claim(job.pk, job.last_event_seq)  # another task holds this step

    assert robo_walk_step(job_pk=job_id) == "skipped"
    assert Job.objects.get(pk=job_id).status == JobStatus.PENDING
    assert not Offer.objects.filter(job_id=job_id).exists()


def test_a_manual_or_real_job_is_not_walked_by_the_task(sandbox_client, shop_client, zone) -> None:
    from jobs.sandbox.services import robo_walk_step

    manual = post_job(sandbox_client, test_specifications=MANUAL).json()["id"]
    real = post_job(shop_client).json()["id"]

    assert robo_walk_step(job_pk=manual) == "skipped"
    assert robo_walk_step(job_pk=real) == "skipped"
    assert set(Job.objects.values_list("status", flat=True)) == {JobStatus.PENDING}
