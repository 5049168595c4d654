"""Posting jobs: from a quote or a full spec, idempotency (with threads), delivery options,
windows and scheduling, and the scheduled release on a real django-q2 worker."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone
from django_q.tasks import async_task, result
from rest_framework.test import APIClient

from jobs.models import Job, JobEvent, JobStatus, Quote
from jobs.posting import jobs_release_due
from jobs.tracking.tokens import job_tracking_token
from marketplace.schedules import PERIODIC_TASKS
from tests.concurrency import race
from tests.conftest import client_for
from tests.factories import JobFactory, ServiceZoneFactory
from tests.jobs.conftest import MUNICH, POTSDAMER_PLATZ, stop_body, trip_body

URL = "/api/v1/jobs/"


def post(client: APIClient, body: Any, key: str | None = None) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(URL, body, format="json", **headers)


def quote_for(client: APIClient, **overrides: Any) -> str:
    response = client.post("/api/v1/quotes/", trip_body(**overrides), format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- From a quote, or priced on the spot -------------------------------------------------


def test_post_from_a_quote_copies_its_price_and_records_the_first_event(
    shop_client, shop_user, zone
) -> None:
    quote_id = quote_for(shop_client)
    quote = Quote.objects.get(pk=quote_id)

    response = post(
        shop_client,
        {
            "quote_id": quote_id,
            "recipient": {"name": "Ada", "phone": "+4930999", "email": "ada@example.com"},
            "tip_minor": 150,
            "external_ref": "order-17",
        },
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    job = Job.objects.get(pk=body["id"])
    assert job.shop_id == shop_user.shop_id
    assert job.quote_id == quote.pk
    assert job.status == JobStatus.PENDING
    assert (job.total_minor, job.courier_payout_minor, job.platform_fee_minor) == (
        quote.total_minor,
        quote.courier_payout_minor,
        quote.platform_fee_minor,
    )
    assert (job.distance_m, job.zone_id, job.pickup_point, job.dropoff_point) == (
        quote.distance_m,
        zone.pk,
        quote.pickup_point,
        quote.dropoff_point,
    )
    assert (job.tip_minor, job.external_ref) == (150, "order-17")
    assert (job.recipient_name, job.recipient_phone, job.recipient_email) == (
        "Ada",
        "+4930999",
        "ada@example.com",
    )
    assert body["status"] == "pending"
    assert body["quote_id"] == quote_id
    assert body["price"]["total_minor"] == 645
    assert body["tracking_token"] == job_tracking_token(job)
    assert body["tracking_url"] == f"http://testserver/t/{job_tracking_token(job)}"
    assert body["recipient_pin"] is None
    assert body["locker_passcode"] is None
    assert body["delivery"] == {
        "option": "hand_to_recipient",
        "pin_required": False,
        "locker_id": "",
        "alternate_location": None,
        "alternate_note": "",
    }
    event = JobEvent.objects.get(job=job)
    assert (event.seq, event.from_status, event.to_status) == (1, "", "pending")
    assert (event.actor_id, event.actor_role) == (shop_user.pk, "shop")
    assert job.last_event_seq == 1


def test_post_a_full_spec_prices_it_on_the_spot(shop_client, zone) -> None:
    response = post(shop_client, {**trip_body(), "external_ref": "spec-1"})

    assert response.status_code == 201, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    assert job.quote_id is None
    assert (job.distance_m, job.total_minor, job.platform_fee_minor) == (2872, 645, 129)
    assert job.pickup_address == "Alexanderplatz 1, Berlin"
    # No recipient given: the dropoff contact is the recipient.
    assert (job.recipient_name, job.recipient_phone) == ("Robin Recipient", "+4930222222")


def test_full_spec_outside_the_zones_is_422(shop_client, zone) -> None:
    response = post(shop_client, trip_body(dropoff=stop_body(MUNICH, "Marienplatz 1")))

    assert (response.status_code, response.json()["code"]) == (422, "outside_service_area")
    assert Job.objects.count() == 0


def test_quote_and_spec_together_are_400(shop_client, zone) -> None:
    quote_id = quote_for(shop_client)

    response = post(shop_client, {**trip_body(), "quote_id": quote_id})

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"pickup", "dropoff", "package"}
    assert Job.objects.count() == 0


def test_neither_quote_nor_spec_is_400_naming_what_is_missing(shop_client, zone) -> None:
    response = post(shop_client, {"pickup": trip_body()["pickup"]})

    assert response.status_code == 400
    assert response.json()["fields"] == {
        "dropoff": ["Required unless quote_id is given."],
        "package": ["Required unless quote_id is given."],
    }


def test_another_shops_quote_is_404_and_stays_unused(shop_client, other_shop_client, zone):
    quote_id = quote_for(other_shop_client)

    response = post(shop_client, {"quote_id": quote_id})

    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert Job.objects.count() == 0
    # Its owner can still use it.
    assert post(other_shop_client, {"quote_id": quote_id}).status_code == 201


def test_an_unknown_quote_is_404(shop_client, zone) -> None:
    response = post(shop_client, {"quote_id": "5b1f9b53-5fd3-4b6b-9a55-3d0f4d3c2a11"})

    assert response.status_code == 404


@pytest.mark.parametrize("value", [12, "not-a-uuid", None, True])
def test_a_malformed_quote_id_is_400(shop_client, zone, value) -> None:
    response = post(shop_client, {"quote_id": value})

    assert response.status_code == 400
    assert "quote_id" in response.json()["fields"]


def test_an_expired_quote_is_409(shop_client, zone) -> None:
    quote_id = quote_for(shop_client)
    Quote.objects.filter(pk=quote_id).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = post(shop_client, {"quote_id": quote_id})

    assert (response.status_code, response.json()["code"]) == (409, "quote_expired")
    assert Job.objects.count() == 0


def test_a_used_quote_is_409(shop_client, zone) -> None:
    quote_id = quote_for(shop_client)
    first = post(shop_client, {"quote_id": quote_id})

    again = post(shop_client, {"quote_id": quote_id, "external_ref": "second"})

    assert first.status_code == 201
    assert (again.status_code, again.json()["code"]) == (409, "quote_used")
    assert Job.objects.count() == 1


# --- Idempotency ------------------------------------------------------------------------


def test_same_key_and_body_replays_the_first_answer(shop_client, zone) -> None:
    body = {**trip_body(), "external_ref": "idem-1", "pin_required": True}

    first = post(shop_client, body, key="key-1")
    # Same body with keys in another order: the same request.
    second = post(shop_client, dict(reversed(list(body.items()))), key="key-1")

    assert first.status_code == 201
    assert second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert second.json() == first.json()
    assert Job.objects.count() == 1
    assert JobEvent.objects.count() == 1


def test_a_replay_after_a_cancel_still_answers_what_the_post_did(shop_client, zone) -> None:
    body = {**trip_body(), "external_ref": "idem-cancel"}
    first = post(shop_client, body, key="key-cancel")
    job_id = first.json()["id"]
    cancelled = shop_client.post(
        f"/api/v1/jobs/{job_id}/cancel/", {"reason": "changed my mind"}, format="json"
    )
    assert cancelled.status_code == 200, cancelled.json()

    replay = post(shop_client, body, key="key-cancel")

    assert first.json()["status"] == "pending"
    assert (replay.status_code, replay["Idempotent-Replayed"]) == (201, "true")
    assert replay.json() == first.json()
    assert replay.json()["status"] == "pending"
    assert Job.objects.get(pk=job_id).status == "cancelled"
    stored = Job.objects.get(pk=job_id).idempotent_body
    assert "tracking_token" not in stored
    assert "tracking_url" not in stored


def test_same_key_with_another_body_is_409(shop_client, zone) -> None:
    first = post(shop_client, {**trip_body(), "external_ref": "a"}, key="key-2")

    second = post(shop_client, {**trip_body(), "external_ref": "b"}, key="key-2")

    assert first.status_code == 201
    assert (second.status_code, second.json()["code"]) == (409, "idempotency_conflict")
    assert list(Job.objects.values_list("external_ref", flat=True)) == ["a"]


def test_keys_are_per_shop(shop_client, other_shop_client, zone) -> None:
    assert post(shop_client, trip_body(), key="shared").status_code == 201
    assert post(other_shop_client, trip_body(), key="shared").status_code == 201
    assert Job.objects.count() == 2


def test_without_a_key_each_post_is_a_new_job(shop_client, zone) -> None:
    post(shop_client, trip_body())
    post(shop_client, trip_body())

    assert Job.objects.count() == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"])
def test_a_bad_key_is_400(shop_client, zone, key) -> None:
    response = post(shop_client, trip_body(), key=key)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["fields"]
    assert Job.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_with_one_key_make_one_job(shop_user) -> None:
    ServiceZoneFactory()
    body = {**trip_body(), "external_ref": "race"}

    def attempt() -> tuple[int, dict[str, Any]]:
        response = post(client_for(shop_user), body, key="race-key")
        return response.status_code, response.json()

    results = race(*[attempt] * 6)

    assert not [r for r in results if isinstance(r, Exception)], results
    statuses = sorted(code for code, _ in results)
    assert statuses == [201, 201, 201, 201, 201, 201]
    assert len({body["id"] for _, body in results}) == 1
    assert Job.objects.count() == 1
    assert JobEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_one_quote_use_it_once(shop_user) -> None:
    ServiceZoneFactory()
    quote_id = quote_for(client_for(shop_user))

    def attempt(ref: str) -> int:
        return post(client_for(shop_user), {"quote_id": quote_id, "external_ref": ref}).status_code

    results = race(*[lambda ref=f"r{i}": attempt(ref) for i in range(5)])

    assert sorted(results) == [201, 409, 409, 409, 409]
    assert Job.objects.filter(quote_id=quote_id).count() == 1


# --- Delivery options -------------------------------------------------------------------


def test_hand_to_recipient_with_pin_gets_a_4_digit_pin(shop_client, zone) -> None:
    response = post(shop_client, {**trip_body(), "pin_required": True})

    assert response.status_code == 201
    pin = response.json()["recipient_pin"]
    assert re.fullmatch(r"\d{4}", pin)
    job = Job.objects.get()
    assert (job.pin_required, job.recipient_pin, job.locker_passcode) == (True, pin, "")


def test_leave_at_door_is_recorded(shop_client, zone) -> None:
    response = post(shop_client, {**trip_body(), "delivery_option": "leave_at_door"})

    assert response.status_code == 201
    assert response.json()["delivery"]["option"] == "leave_at_door"
    assert Job.objects.get().delivery_option == "leave_at_door"


def test_locker_gets_a_one_time_passcode(shop_client, zone) -> None:
    body = {**trip_body(), "delivery_option": "locker", "locker_id": "PACKSTATION-117"}

    response = post(shop_client, body)

    assert response.status_code == 201
    passcode = response.json()["locker_passcode"]
    assert re.fullmatch(r"\d{6}", passcode)
    assert response.json()["recipient_pin"] is None
    job = Job.objects.get()
    assert (job.locker_id, job.locker_passcode) == ("PACKSTATION-117", passcode)


def test_alternate_location_keeps_the_point_and_note(shop_client, zone) -> None:
    body = {
        **trip_body(),
        "delivery_option": "alternate_location",
        "alternate_location": stop_body(POTSDAMER_PLATZ, "Kiosk, Potsdamer Platz 2"),
        "alternate_note": "Leave with the kiosk",
    }

    response = post(shop_client, body)

    assert response.status_code == 201, response.json()
    assert response.json()["delivery"]["alternate_location"] == {
        "address": "Kiosk, Potsdamer Platz 2",
        "lat": 52.5096,
        "lng": 13.376,
    }
    job = Job.objects.get()
    assert job.alternate_point == Point(13.376, 52.5096, srid=4326)
    assert job.alternate_note == "Leave with the kiosk"


@pytest.mark.parametrize(
    ("extra", "fields"),
    [
        ({"delivery_option": "locker"}, {"locker_id"}),
        ({"delivery_option": "locker", "locker_id": ""}, {"locker_id"}),
        ({"delivery_option": "alternate_location"}, {"alternate_location", "alternate_note"}),
        (
            {
                "delivery_option": "alternate_location",
                "alternate_location": stop_body(POTSDAMER_PLATZ, "Kiosk"),
            },
            {"alternate_note"},
        ),
        ({"delivery_option": "leave_at_door", "pin_required": True}, {"pin_required"}),
        ({"delivery_option": "locker", "locker_id": "L1", "pin_required": True}, {"pin_required"}),
        ({"locker_id": "L1"}, {"locker_id"}),
        ({"alternate_note": "next door"}, {"alternate_note"}),
        ({"delivery_option": "drone"}, {"delivery_option"}),
        ({"pin_required": "yes"}, {"pin_required"}),
        ({"pin_required": 1}, {"pin_required"}),
        ({"tip_minor": -1}, {"tip_minor"}),
        ({"tip_minor": "100"}, {"tip_minor"}),
        ({"external_ref": "x" * 101}, {"external_ref"}),
        ({"recipient": {"email": "not-an-email"}}, {"recipient"}),
        ({"recipient": {"name": 42}}, {"recipient"}),
        ({"locker_id": "x" * 65, "delivery_option": "locker"}, {"locker_id"}),
        (
            {
                "delivery_option": "alternate_location",
                "alternate_location": {"address": "Kiosk", "lat": 95, "lng": 13.4},
                "alternate_note": "n",
            },
            {"alternate_location"},
        ),
    ],
)
def test_bad_delivery_details_are_400_naming_the_fields(shop_client, zone, extra, fields):
    response = post(shop_client, {**trip_body(), **extra})

    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "validation_error"
    assert set(response.json()["fields"]) == fields
    assert Job.objects.count() == 0


def test_an_alternate_location_outside_the_zones_is_422(shop_client, zone) -> None:
    body = {
        **trip_body(),
        "delivery_option": "alternate_location",
        "alternate_location": stop_body(MUNICH, "Marienplatz"),
        "alternate_note": "n",
    }

    response = post(shop_client, body)

    assert response.status_code == 422
    assert response.json()["fields"] == {"alternate_location": ["Outside every service zone."]}


# --- Windows and scheduling -------------------------------------------------------------


def test_a_pickup_beyond_the_lead_time_is_scheduled(shop_client, zone, settings) -> None:
    settings.SCHEDULE_LEAD_TIME_SECONDS = 900
    pickup_after = timezone.now() + timedelta(hours=3)

    response = post(shop_client, trip_body(pickup_after=pickup_after.isoformat()))

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "scheduled"
    assert parse(body["release_at"]) == pickup_after - timedelta(seconds=900)
    job = Job.objects.get()
    assert (job.status, job.release_at) == ("scheduled", pickup_after - timedelta(seconds=900))
    event = JobEvent.objects.get(job=job)
    assert (event.from_status, event.to_status) == ("", "scheduled")


def test_a_pickup_within_the_lead_time_is_pending_now(shop_client, zone, settings) -> None:
    settings.SCHEDULE_LEAD_TIME_SECONDS = 900
    pickup_after = timezone.now() + timedelta(minutes=10)

    body = post(shop_client, trip_body(pickup_after=pickup_after.isoformat())).json()

    assert (body["status"], body["release_at"]) == ("pending", None)


def test_a_scheduled_quote_becomes_a_scheduled_job(shop_client, zone) -> None:
    quote_id = quote_for(shop_client, pickup_after=(timezone.now() + timedelta(days=1)).isoformat())

    assert post(shop_client, {"quote_id": quote_id}).json()["status"] == "scheduled"


@pytest.mark.parametrize(
    ("pickup_after", "deliver_before", "field"),
    [
        (-2, None, "pickup_after"),
        (None, -1, "deliver_before"),
        (3, 2, "deliver_before"),
        (2, 2, "deliver_before"),
    ],
)
def test_past_or_inverted_windows_are_400(
    shop_client, zone, pickup_after, deliver_before, field
) -> None:
    now = timezone.now()
    window = {}
    if pickup_after is not None:
        window["pickup_after"] = (now + timedelta(hours=pickup_after)).isoformat()
    if deliver_before is not None:
        window["deliver_before"] = (now + timedelta(hours=deliver_before)).isoformat()

    response = post(shop_client, trip_body(**window))

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    assert Job.objects.count() == 0


@pytest.mark.parametrize("field", ["pickup_after", "deliver_before"])
def test_posting_a_time_without_a_zone_is_400_naming_the_field(shop_client, zone, field) -> None:
    naive = (timezone.now() + timedelta(hours=2)).replace(tzinfo=None).isoformat()

    response = post(shop_client, trip_body(**{field: naive}))

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    assert Job.objects.count() == 0


def test_posting_a_deliver_before_the_trip_cannot_meet_is_400(shop_client, zone) -> None:
    soon = (timezone.now() + timedelta(minutes=5)).isoformat()  # the trip takes ~14 min

    response = post(shop_client, trip_body(deliver_before=soon))

    assert response.status_code == 400
    assert response.json()["fields"]["deliver_before"][0].startswith("Too early")
    assert Job.objects.count() == 0


def test_a_quote_whose_window_closed_cannot_be_posted(shop_client, zone) -> None:
    quote_id = quote_for(
        shop_client, deliver_before=(timezone.now() + timedelta(hours=1)).isoformat()
    )
    Quote.objects.filter(pk=quote_id).update(deliver_before=timezone.now())

    response = post(shop_client, {"quote_id": quote_id})

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["deliver_before"]


# --- Access -----------------------------------------------------------------------------


def test_courier_token_is_403_and_nothing_is_created(courier_client, zone) -> None:
    response = post(courier_client, trip_body())

    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert Job.objects.count() == 0


def test_staff_cannot_post(staff_client, zone) -> None:
    assert post(staff_client, trip_body()).status_code == 403


# --- Scheduled release ------------------------------------------------------------------


def scheduled_job(release_in: timedelta) -> Job:
    now = timezone.now()
    return JobFactory(
        status=JobStatus.SCHEDULED,
        pickup_after=now + release_in + timedelta(minutes=15),
        release_at=now + release_in,
    )


def test_release_moves_only_due_scheduled_jobs_to_pending(db) -> None:
    due = scheduled_job(timedelta(seconds=-5))
    later = scheduled_job(timedelta(minutes=5))
    cancelled = JobFactory(status=JobStatus.CANCELLED, release_at=timezone.now())

    released = jobs_release_due()

    assert released == [str(due.pk)]
    due.refresh_from_db()
    later.refresh_from_db()
    cancelled.refresh_from_db()
    assert (due.status, later.status, cancelled.status) == ("pending", "scheduled", "cancelled")
    event = JobEvent.objects.get(job=due)
    assert (event.from_status, event.to_status, event.actor_role) == (
        "scheduled",
        "pending",
        "system",
    )
    assert event.reason == "scheduled release"
    assert jobs_release_due() == []


@pytest.mark.django_db(transaction=True)
def test_release_runs_on_a_real_worker(worker_cluster) -> None:
    due = scheduled_job(timedelta(seconds=-1))
    later = scheduled_job(timedelta(hours=1))

    task_id = async_task("jobs.tasks.release_scheduled_jobs_task")

    assert result(task_id, wait=20_000) == 1
    due.refresh_from_db()
    later.refresh_from_db()
    assert later.status == "scheduled"
    # Released to dispatch, which the same worker may already have run (with no courier
    # about, it leaves the job unassigned): the release is the job's first move.
    assert due.status != "scheduled"
    first = JobEvent.objects.filter(job=due).order_by("seq").first()
    assert (first.seq, first.from_status, first.to_status) == (1, "scheduled", "pending")
    assert first.reason == "scheduled release"


def test_release_is_scheduled_every_minute() -> None:
    (task,) = [t for t in PERIODIC_TASKS if t.name == "jobs.release_scheduled"]
    assert (task.func, task.minutes) == ("jobs.tasks.release_scheduled_jobs_task", 1)
