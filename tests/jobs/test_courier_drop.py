"""A courier drops an assigned job before pickup: back to pending and to dispatch."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.gis.geos import Point
from django_q.brokers import get_broker
from django_q.signing import SignedPackage
from rest_framework.test import APIClient

from couriers.models import Courier, CourierStatus
from jobs.models import JobEvent, JobStatus, OfferStatus
from tests.concurrency import race
from tests.conftest import client_for
from tests.factories import CourierFactory, OfferFactory, ShopUserFactory
from tests.jobs.test_courier_steps import PICKUP, job_in, snapshot, step_url

S = JobStatus


def queued_tasks() -> list[dict[str, Any]]:
    """Everything waiting on this slot's django-q2 Redis queue, decoded."""
    broker = get_broker()
    tasks = []
    while broker.queue_size():
        [(_, payload)] = broker.dequeue()
        tasks.append(SignedPackage.loads(payload))
    return tasks


@pytest.mark.parametrize("status", [S.ASSIGNED, S.AT_PICKUP])
def test_drop_before_pickup_frees_the_job_and_queues_dispatch(
    courier: Courier,
    courier_client: APIClient,
    status: JobStatus,
    django_capture_on_commit_callbacks: Any,
) -> None:
    job = job_in(status, courier=courier)
    accepted = OfferFactory(job=job, courier=courier, status=OfferStatus.ACCEPTED)
    declined = OfferFactory(job=job, status=OfferStatus.DECLINED)
    get_broker().purge_queue()
    seq_before = job.last_event_seq

    with django_capture_on_commit_callbacks(execute=True):
        answer = courier_client.post(
            step_url(job, "drop"), {"reason": "Flat tyre", "position": PICKUP}
        )

    assert answer.status_code == 200, answer.json()
    assert answer.json() == {"id": str(job.pk), "status": "pending"}
    job.refresh_from_db()
    courier.refresh_from_db()
    assert (job.status, job.courier_id, job.dispatch_round) == (S.PENDING, None, 0)
    assert job.last_event_seq == seq_before + 1
    assert courier.status == CourierStatus.AVAILABLE
    event = JobEvent.objects.get(job=job, seq=job.last_event_seq)
    assert (event.from_status, event.to_status, event.reason) == (status, "pending", "Flat tyre")
    assert (event.actor_id, event.actor_role, event.courier_id) == (
        courier.user_id,
        "courier",
        courier.pk,
    )
    assert event.point == Point(PICKUP["lng"], PICKUP["lat"], srid=4326)
    assert event.data == {"dropped_by_courier_id": courier.pk}
    accepted.refresh_from_db()
    declined.refresh_from_db()
    assert (accepted.status, declined.status) == (OfferStatus.WITHDRAWN, OfferStatus.DECLINED)
    dispatch = [
        task for task in queued_tasks() if task["func"] == "jobs.dispatch.dispatch_job_task"
    ]
    assert [task["args"] for task in dispatch] == [(str(job.pk),)]


def test_a_dropped_job_is_no_longer_the_couriers(
    courier: Courier, courier_client: APIClient
) -> None:
    job = job_in(S.ASSIGNED, courier=courier)
    assert courier_client.post(step_url(job, "drop"), {"reason": "Sick"}).status_code == 200
    assert courier_client.get(f"/api/v1/courier/jobs/{job.pk}/").status_code == 404
    assert courier_client.get("/api/v1/courier/jobs/").json()["count"] == 0
    again = courier_client.post(step_url(job, "drop"), {"reason": "Sick"})
    assert again.status_code == 404


@pytest.mark.parametrize("status", [S.PICKED_UP, S.AT_DROPOFF, S.RETURNING, S.DELIVERED])
def test_drop_after_pickup_is_409_and_changes_nothing(
    courier: Courier, courier_client: APIClient, status: JobStatus
) -> None:
    job = job_in(status, courier=courier)
    before = snapshot(job)
    answer = courier_client.post(step_url(job, "drop"), {"reason": "Changed my mind"})
    assert answer.status_code == 409
    assert answer.json()["code"] == "invalid_transition"
    assert snapshot(job) == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": ""},
        {"reason": "   "},
        {"reason": 42},
        {"reason": None},
        {"reason": "x" * 501},
    ],
)
def test_drop_needs_a_reason(
    courier: Courier, courier_client: APIClient, body: dict[str, Any]
) -> None:
    job = job_in(S.ASSIGNED, courier=courier)
    before = snapshot(job)
    answer = courier_client.post(step_url(job, "drop"), body)
    assert answer.status_code == 400
    assert list(answer.json()["fields"]) == ["reason"]
    assert snapshot(job) == before


def test_only_the_assigned_courier_may_drop(courier: Courier) -> None:
    job = job_in(S.ASSIGNED, courier=courier)
    before = snapshot(job)
    other = client_for(CourierFactory().user)
    assert other.post(step_url(job, "drop"), {"reason": "Mine now"}).status_code == 404
    owner = client_for(ShopUserFactory(shop=job.shop))
    assert owner.post(step_url(job, "drop"), {"reason": "Shop"}).status_code == 403
    assert snapshot(job) == before
    courier.refresh_from_db()
    assert courier.status == CourierStatus.BUSY


@pytest.mark.django_db(transaction=True)
def test_drop_racing_pickup_has_exactly_one_winner() -> None:
    for _ in range(6):
        courier = CourierFactory()
        job = job_in(S.AT_PICKUP, courier=courier)

        def post(step: str, body: dict[str, Any], job: Any = job, user: Any = courier.user) -> int:
            return client_for(user).post(step_url(job, step), body).status_code

        drop, pickup = race(lambda: post("drop", {"reason": "Late"}), lambda: post("pickup", {}))
        job.refresh_from_db()
        if drop == 200:
            # The job is no longer this courier's by the time the pickup is looked at.
            assert pickup == 404
            assert (job.status, job.courier_id) == (S.PENDING, None)
        else:
            assert (drop, pickup) == (409, 200)
            assert (job.status, job.courier_id) == (S.PICKED_UP, courier.pk)
        assert JobEvent.objects.filter(job=job).count() == job.last_event_seq == 3
