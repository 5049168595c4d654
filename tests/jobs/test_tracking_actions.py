"""The recipient's actions on the tracking link: each one a recipient JobEvent that reaches
the shop (webhook outbox, shop socket) and the courier when it concerns them, and each
refused with a clear 4xx outside its window, changing nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from couriers.models import Courier, CourierStatus
from jobs.models import (
    EventKind,
    Job,
    JobEvent,
    JobRating,
    JobStatus,
    OfferStatus,
    RecipientProblem,
    WebhookDelivery,
)
from marketplace.realtime.groups import courier_group, shop_group
from tests.factories import OfferFactory
from tests.jobs.tracking_helpers import track_url, tracked_job

S = JobStatus


def with_webhook(job: Job) -> Job:
    job.shop.webhook_url = "https://hooks.example.com/in"
    job.shop.webhook_secret = "whsec_x"
    job.shop.save()
    return job


async def listen(group: str) -> tuple[Any, str]:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return layer, channel


async def next_frame(listener: tuple[Any, str]) -> dict:
    layer, channel = listener
    return (await asyncio.wait_for(layer.receive(channel), 3))["payload"]


@pytest.mark.django_db(transaction=True)
async def test_instructions_reach_the_shop_and_the_courier(api_client) -> None:
    job, token = await database_sync_to_async(tracked_job)(S.PICKED_UP)
    await database_sync_to_async(with_webhook)(job)
    shop = await listen(shop_group(job.shop_id))
    courier = await listen(courier_group(job.courier_id))

    response = await sync_to_async(api_client.post)(
        track_url(token, "instructions"), {"text": "Ring twice"}
    )

    assert response.status_code == 200
    assert response.json()["delivery"]["instructions"] == "Ring twice"
    await database_sync_to_async(job.refresh_from_db)()
    assert job.recipient_instructions == "Ring twice"
    event = await database_sync_to_async(JobEvent.objects.get)(job=job)
    assert (event.kind, event.actor_role, event.from_status, event.to_status) == (
        "instructions_updated",
        "recipient",
        "picked_up",
        "picked_up",
    )
    assert event.data == {"instructions": "Ring twice"}
    envelope = await next_frame(shop)
    assert envelope["id"] == event.pk
    assert envelope["type"] == "job.instructions_updated"
    assert envelope["data"]["actor"] == "recipient"
    assert envelope["data"]["details"] == {"instructions": "Ring twice"}
    frame = await next_frame(courier)
    assert frame == {
        "type": "recipient_update",
        "kind": "instructions_updated",
        "instructions": "Ring twice",
        "job_id": str(job.pk),
        "seq": 1,
        "at": event.created_at.isoformat(),
    }
    delivery = await database_sync_to_async(WebhookDelivery.objects.get)(event=event)
    assert '"type":"job.instructions_updated"' in delivery.body


@pytest.mark.parametrize(
    ("status", "code"), [(S.AT_DROPOFF, "instructions_closed"), (S.CANCELLED, "job_ended")]
)
def test_instructions_are_refused_once_the_courier_is_at_the_door(
    api_client, db: None, status: JobStatus, code: str
) -> None:
    job, token = tracked_job(status)

    response = api_client.post(track_url(token, "instructions"), {"text": "Ring twice"})

    assert response.status_code == 409
    assert response.json()["code"] == code
    job.refresh_from_db()
    assert job.recipient_instructions == ""
    assert not JobEvent.objects.filter(job=job).exists()


def test_instructions_longer_than_500_characters_are_a_400(api_client, db: None) -> None:
    _job, token = tracked_job()

    response = api_client.post(track_url(token, "instructions"), {"text": "x" * 501})

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["text"]


def test_switching_to_a_locker_makes_a_fresh_passcode_hidden_until_delivery(
    api_client, db: None
) -> None:
    job, token = tracked_job(S.ASSIGNED, pin_required=True, recipient_pin="1234")

    response = api_client.post(
        track_url(token, "delivery-option"), {"delivery_option": "locker", "locker_id": "L-17"}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["delivery"]["option"] == "locker"
    assert body["delivery"]["locker"] is None  # not before delivery
    assert body["pin"] is None
    job.refresh_from_db()
    assert (job.delivery_option, job.locker_id, job.pin_required) == ("locker", "L-17", False)
    assert len(job.locker_passcode) == 6
    assert job.locker_passcode.isdigit()
    assert job.total_minor == 636  # the price does not change
    Job.objects.filter(pk=job.pk).update(status=S.DELIVERED, ended_at=timezone.now())
    delivered = api_client.get(track_url(token)).json()
    assert delivered["delivery"]["locker"] == {"id": "L-17", "passcode": job.locker_passcode}


def test_an_alternate_location_nearby_is_accepted(api_client, db: None, zone) -> None:
    job, token = tracked_job(S.PENDING, zone=zone)
    place = {"address": "Leipziger Platz 12", "lat": 52.5093, "lng": 13.3790}

    response = api_client.post(
        track_url(token, "delivery-option"),
        {
            "delivery_option": "alternate_location",
            "alternate_location": place,
            "alternate_note": "Café",
        },
    )

    assert response.status_code == 200
    assert response.json()["delivery"]["alternate_location"] == place
    job.refresh_from_db()
    assert (job.alternate_address, job.alternate_note) == ("Leipziger Platz 12", "Café")
    assert (job.alternate_point.y, job.alternate_point.x) == (52.5093, 13.379)
    assert (job.dropoff_point.y, job.dropoff_point.x) == (52.5096, 13.376)


def test_an_alternate_location_too_far_away_is_a_409(api_client, db: None, zone, settings) -> None:
    settings.RECIPIENT_MAX_REDIRECT_M = 1000
    job, token = tracked_job(S.PENDING, zone=zone)
    far = {"address": "Alexanderplatz", "lat": 52.5219, "lng": 13.4132}  # ~2.8 km

    response = api_client.post(
        track_url(token, "delivery-option"),
        {"delivery_option": "alternate_location", "alternate_location": far},
    )

    assert response.status_code == 409
    assert response.json()["code"] == "redirect_too_far"
    job.refresh_from_db()
    assert (job.delivery_option, job.alternate_point) == ("hand_to_recipient", None)
    assert not JobEvent.objects.filter(job=job).exists()


def test_an_alternate_location_outside_every_zone_is_a_422(
    api_client, db: None, zone, settings
) -> None:
    settings.RECIPIENT_MAX_REDIRECT_M = 100_000
    job, token = tracked_job(S.PENDING, zone=zone)
    outside = {"address": "Potsdam", "lat": 52.39, "lng": 13.06}

    response = api_client.post(
        track_url(token, "delivery-option"),
        {"delivery_option": "alternate_location", "alternate_location": outside},
    )

    assert response.status_code == 422
    assert response.json()["code"] == "outside_service_area"
    job.refresh_from_db()
    assert job.delivery_option == "hand_to_recipient"


def test_the_delivery_option_is_fixed_after_pickup(api_client, db: None) -> None:
    job, token = tracked_job(S.PICKED_UP)

    response = api_client.post(
        track_url(token, "delivery-option"), {"delivery_option": "leave_at_door"}
    )

    assert response.status_code == 409
    assert response.json()["code"] == "already_picked_up"
    job.refresh_from_db()
    assert job.delivery_option == "hand_to_recipient"


@pytest.mark.django_db(transaction=True)
async def test_rescheduling_releases_the_courier_and_withdraws_offers(api_client) -> None:
    job, token = await database_sync_to_async(tracked_job)(S.ASSIGNED)
    courier_pk = job.courier_id
    other_offer = await database_sync_to_async(OfferFactory)(job=job)
    shop = await listen(shop_group(job.shop_id))
    after = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    before = after + timedelta(hours=2)

    response = await sync_to_async(api_client.post)(
        track_url(token, "reschedule"),
        {"deliver_after": after.isoformat(), "deliver_before": before.isoformat()},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "scheduled"
    assert body["window"] == {
        "deliver_after": after.isoformat(),
        "deliver_before": before.isoformat(),
    }
    assert body["courier"] is None
    await database_sync_to_async(job.refresh_from_db)()
    assert (job.status, job.courier_id) == (S.SCHEDULED, None)
    assert (job.deliver_after, job.deliver_before) == (after, before)
    assert job.release_at < job.pickup_after <= after
    courier = await database_sync_to_async(Courier.objects.get)(pk=courier_pk)
    assert courier.status == CourierStatus.AVAILABLE
    await database_sync_to_async(other_offer.refresh_from_db)()
    assert other_offer.status == OfferStatus.WITHDRAWN
    event = await database_sync_to_async(JobEvent.objects.get)(job=job)
    assert (event.kind, event.actor_role, event.from_status, event.to_status) == (
        "rescheduled",
        "recipient",
        "assigned",
        "scheduled",
    )
    assert (await next_frame(shop))["type"] == "job.rescheduled"


@pytest.mark.parametrize(
    ("after_h", "before_h", "field"),
    [
        (-3, -1, "deliver_before"),
        (5, 2, "deliver_before"),
        (1, 24 * 8, "deliver_before"),
        (-2, 3, "deliver_after"),
    ],
)
def test_bad_windows_are_a_400(
    api_client, db: None, after_h: int, before_h: int, field: str
) -> None:
    job, token = tracked_job(S.PENDING)
    now = timezone.now()

    response = api_client.post(
        track_url(token, "reschedule"),
        {
            "deliver_after": (now + timedelta(hours=after_h)).isoformat(),
            "deliver_before": (now + timedelta(hours=before_h)).isoformat(),
        },
    )

    assert response.status_code == 400
    assert field in response.json()["fields"]
    job.refresh_from_db()
    assert (job.status, job.deliver_after) == (S.PENDING, None)


def test_a_naive_window_is_a_400(api_client, db: None) -> None:
    _, token = tracked_job(S.PENDING)

    response = api_client.post(
        track_url(token, "reschedule"),
        {"deliver_after": "2030-01-01T10:00:00", "deliver_before": "2030-01-01T12:00:00+00:00"},
    )

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["deliver_after"]


def test_rescheduling_after_pickup_is_a_409(api_client, db: None) -> None:
    job, token = tracked_job(S.PICKED_UP)
    after = timezone.now() + timedelta(hours=3)

    response = api_client.post(
        track_url(token, "reschedule"),
        {
            "deliver_after": after.isoformat(),
            "deliver_before": (after + timedelta(hours=1)).isoformat(),
        },
    )

    assert response.status_code == 409
    assert response.json()["code"] == "already_picked_up"
    job.refresh_from_db()
    assert job.status == S.PICKED_UP


def test_a_rating_once_after_delivery_feeds_the_courier(api_client, db: None) -> None:
    job, token = tracked_job(S.DELIVERED, ended_at=timezone.now())

    first = api_client.post(track_url(token, "rating"), {"stars": 3, "comment": "ok"})
    second = api_client.post(track_url(token, "rating"), {"stars": 5})

    assert first.status_code == 200
    assert first.json()["rating"] == {"stars": 3, "comment": "ok"}
    assert "rating" not in first.json()["actions"]
    assert second.status_code == 409
    assert second.json()["code"] == "already_rated"
    courier = Courier.objects.get(pk=job.courier_id)
    assert (courier.rating, courier.rating_count) == (Decimal("3.00"), 1)
    assert JobRating.objects.get(job=job).stars == 3
    assert JobEvent.objects.filter(job=job, kind=EventKind.RATED).count() == 1


def test_the_courier_rating_is_the_mean_of_all_ratings(api_client, db: None) -> None:
    first, first_token = tracked_job(S.DELIVERED, ended_at=timezone.now())
    _second, second_token = tracked_job(S.DELIVERED, ended_at=timezone.now(), courier=first.courier)

    api_client.post(track_url(first_token, "rating"), {"stars": 4})
    api_client.post(track_url(second_token, "rating"), {"stars": 1})

    courier = Courier.objects.get(pk=first.courier_id)
    assert (courier.rating, courier.rating_count, courier.rating_stars_total) == (
        Decimal("2.50"),
        2,
        5,
    )


@pytest.mark.parametrize("stars", [0, 6, "5", 4.5])
def test_stars_must_be_a_whole_number_from_1_to_5(api_client, db: None, stars) -> None:
    _, token = tracked_job(S.DELIVERED, ended_at=timezone.now())

    response = api_client.post(track_url(token, "rating"), {"stars": stars})

    assert response.status_code == 400
    assert not JobRating.objects.exists()


def test_rating_before_delivery_is_a_409(api_client, db: None) -> None:
    job, token = tracked_job(S.AT_DROPOFF)

    response = api_client.post(track_url(token, "rating"), {"stars": 5})

    assert response.status_code == 409
    assert response.json()["code"] == "not_delivered"
    assert Courier.objects.get(pk=job.courier_id).rating_count == 0


def test_a_problem_after_pickup_is_stored_for_staff_and_the_shop(api_client, db: None) -> None:
    job, token = tracked_job(S.AT_DROPOFF)

    response = api_client.post(
        track_url(token, "problem"), {"reason": "damaged", "text": "Box crushed"}
    )

    assert response.status_code == 200
    problem = RecipientProblem.objects.get(job=job)
    assert (problem.reason, problem.text, problem.job_status) == (
        "damaged",
        "Box crushed",
        "at_dropoff",
    )
    event = JobEvent.objects.get(job=job, kind="problem_reported")
    assert event.data == {"problem_id": problem.pk, "reason": "damaged", "text": "Box crushed"}


def test_a_problem_before_pickup_is_a_409(api_client, db: None) -> None:
    _job, token = tracked_job(S.ASSIGNED)

    response = api_client.post(track_url(token, "problem"), {"reason": "late", "text": ""})

    assert response.status_code == 409
    assert response.json()["code"] == "not_picked_up"
    assert not RecipientProblem.objects.exists()


def test_actions_on_a_dead_link_are_404(api_client, db: None) -> None:
    job, _ = tracked_job(S.PENDING)

    response = api_client.post(track_url("nope", "instructions"), {"text": "hi"})

    assert response.status_code == 404
    job.refresh_from_db()
    assert job.recipient_instructions == ""
