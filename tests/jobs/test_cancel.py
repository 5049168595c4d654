"""Cancelling: free until the courier reaches pickup, the zone's fee there, refused after."""

from __future__ import annotations

import pytest

from couriers.models import CourierStatus
from jobs.lifecycle import job_transition
from jobs.models import COURIER_ACTIVE_STATUSES, Job, JobEvent, JobStatus, OfferStatus
from jobs.posting import job_cancel
from marketplace.api.errors import InvalidTransition
from marketplace.models import User
from tests.concurrency import race
from tests.factories import (
    CourierFactory,
    JobFactory,
    OfferFactory,
    ServiceZoneFactory,
    ShopUserFactory,
)

S = JobStatus


def job_in(status: JobStatus, user: User, fee: int = 500) -> Job:
    courier = (
        CourierFactory(status=CourierStatus.BUSY) if status in COURIER_ACTIVE_STATUSES else None
    )
    zone = ServiceZoneFactory(cancellation_fee_minor=fee)
    return JobFactory(shop=user.shop, status=status, courier=courier, zone=zone)


def cancel(client, job: Job, body=None):
    return client.post(
        f"/api/v1/jobs/{job.pk}/cancel/", body or {"reason": "customer changed mind"}, format="json"
    )


@pytest.mark.parametrize("status", [S.SCHEDULED, S.PENDING, S.UNASSIGNED, S.ASSIGNED])
def test_cancel_is_free_before_the_courier_reaches_pickup(shop_client, shop_user, status):
    job = job_in(status, shop_user)

    response = cancel(shop_client, job)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["cancellation_fee_charged_minor"]) == ("cancelled", 0)
    job.refresh_from_db()
    assert (job.status, job.cancellation_fee_charged_minor) == ("cancelled", 0)
    assert job.cancelled_at is not None
    event = JobEvent.objects.get(job=job)
    assert (event.from_status, event.to_status, event.actor_id) == (
        status,
        "cancelled",
        shop_user.pk,
    )
    assert event.reason == "customer changed mind"
    assert event.data == {"cancellation_fee_minor": 0}


def test_cancel_at_pickup_charges_the_zone_fee(shop_client, shop_user) -> None:
    job = job_in(S.AT_PICKUP, shop_user, fee=750)
    courier = job.courier

    response = cancel(shop_client, job)

    assert response.status_code == 200
    assert response.json()["cancellation_fee_charged_minor"] == 750
    job.refresh_from_db()
    assert (job.status, job.cancellation_fee_charged_minor) == ("cancelled", 750)
    assert JobEvent.objects.get(job=job).data == {"cancellation_fee_minor": 750}
    courier.refresh_from_db()
    assert courier.status == CourierStatus.AVAILABLE  # free for the next job


def test_cancelling_an_assigned_job_frees_the_courier(shop_client, shop_user) -> None:
    job = job_in(S.ASSIGNED, shop_user)

    cancel(shop_client, job)

    job.courier.refresh_from_db()
    assert job.courier.status == CourierStatus.AVAILABLE


@pytest.mark.parametrize(
    "status",
    [
        S.PICKED_UP,
        S.AT_DROPOFF,
        S.DELIVERED,
        S.FAILED,
        S.RETURNING,
        S.RETURNED,
        S.CANCELLED,
    ],
)
def test_cancel_after_pickup_is_409_and_changes_nothing(shop_client, shop_user, status):
    job = job_in(status, shop_user)

    response = cancel(shop_client, job)

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    job.refresh_from_db()
    assert (job.status, job.cancellation_fee_charged_minor, job.last_event_seq) == (status, 0, 0)
    assert not JobEvent.objects.filter(job=job).exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "This field is required."),
        ({"reason": ""}, "This field may not be blank."),
        ({"reason": "x" * 501}, "Ensure this field has no more than 500 characters."),
        ({"reason": 12}, "A string is required."),
    ],
)
def test_reason_is_required(shop_client, shop_user, body, message) -> None:
    job = job_in(S.PENDING, shop_user)

    response = shop_client.post(f"/api/v1/jobs/{job.pk}/cancel/", body, format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {"reason": [message]}
    job.refresh_from_db()
    assert job.status == "pending"


def test_another_shops_job_is_404_and_stays(shop_client, other_shop_user) -> None:
    job = job_in(S.PENDING, other_shop_user)

    response = cancel(shop_client, job)

    assert response.status_code == 404
    job.refresh_from_db()
    assert (job.status, job.last_event_seq) == ("pending", 0)


def test_courier_and_staff_cannot_cancel(courier_client, staff_client, shop_user) -> None:
    job = job_in(S.PENDING, shop_user)

    assert cancel(courier_client, job).status_code == 403
    assert cancel(staff_client, job).status_code == 403
    job.refresh_from_db()
    assert job.status == "pending"


def test_repost_sends_an_unassigned_job_back_to_dispatch(shop_client, shop_user) -> None:
    job = job_in(S.UNASSIGNED, shop_user)

    response = shop_client.post(f"/api/v1/jobs/{job.pk}/repost/")

    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    event = JobEvent.objects.get(job=job)
    assert (event.from_status, event.to_status, event.reason) == (
        "unassigned",
        "pending",
        "re-posted",
    )


@pytest.mark.parametrize("status", [S.PENDING, S.ASSIGNED, S.CANCELLED])
def test_repost_only_from_unassigned(shop_client, shop_user, status) -> None:
    job = job_in(status, shop_user)

    response = shop_client.post(f"/api/v1/jobs/{job.pk}/repost/")

    assert (response.status_code, response.json()["code"]) == (409, "invalid_transition")
    job.refresh_from_db()
    assert job.status == status


def test_repost_of_another_shops_job_is_404(shop_client, other_shop_user) -> None:
    job = job_in(S.UNASSIGNED, other_shop_user)

    assert shop_client.post(f"/api/v1/jobs/{job.pk}/repost/").status_code == 404
    job.refresh_from_db()
    assert job.status == "unassigned"


def test_cancel_withdraws_open_offers(shop_client, shop_user) -> None:
    job = job_in(S.PENDING, shop_user)
    offer = OfferFactory(job=job)
    answered = OfferFactory(job=job, status=OfferStatus.DECLINED)

    assert cancel(shop_client, job).status_code == 200

    offer.refresh_from_db()
    answered.refresh_from_db()
    assert (offer.status, answered.status) == ("withdrawn", "declined")


@pytest.mark.django_db(transaction=True)
def test_cancel_racing_the_pickup_one_wins_and_the_fee_matches() -> None:
    for _ in range(5):
        user = ShopUserFactory()
        job = job_in(S.AT_PICKUP, user, fee=400)
        courier = job.courier

        cancelled, picked_up = race(
            lambda job=job, user=user: job_cancel(job=job, actor=user, reason="too slow"),
            lambda job=job, courier=courier: job_transition(
                job=job, to=S.PICKED_UP, actor=courier.user
            ),
        )

        job.refresh_from_db()
        if isinstance(cancelled, Exception):
            assert isinstance(cancelled, InvalidTransition)
            assert (job.status, job.cancellation_fee_charged_minor) == ("picked_up", 0)
        else:
            assert isinstance(picked_up, InvalidTransition)
            assert (job.status, job.cancellation_fee_charged_minor) == ("cancelled", 400)
        assert job.last_event_seq == 1
