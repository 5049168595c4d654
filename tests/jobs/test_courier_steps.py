"""Courier job API: my jobs, each step of the walk, failure and return, and bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from couriers.models import Courier, CourierStatus
from jobs.courier_steps import FailureNoteRequired, job_fail
from jobs.lifecycle import job_transition
from jobs.models import DeliveryOption, Job, JobEvent, JobStatus, ProofOfDelivery
from marketplace.models import User
from tests.conftest import client_for
from tests.factories import CourierFactory, JobFactory, ShopUserFactory, UserFactory

S = JobStatus

PICKUP = {"lat": 52.5219, "lng": 13.4132}  # JobFactory's pickup point
DROPOFF = {"lat": 52.5096, "lng": 13.3760}  # JobFactory's dropoff point
PIN = "4821"
LOCKER_PASSCODE = "973311"

# The legal path from pending to each status, one job_transition per hop.
WALK_TO: dict[JobStatus, list[JobStatus]] = {
    S.ASSIGNED: [S.ASSIGNED],
    S.AT_PICKUP: [S.ASSIGNED, S.AT_PICKUP],
    S.PICKED_UP: [S.ASSIGNED, S.AT_PICKUP, S.PICKED_UP],
    S.AT_DROPOFF: [S.ASSIGNED, S.AT_PICKUP, S.PICKED_UP, S.AT_DROPOFF],
    S.DELIVERED: [S.ASSIGNED, S.AT_PICKUP, S.PICKED_UP, S.AT_DROPOFF, S.DELIVERED],
    S.FAILED: [S.ASSIGNED, S.AT_PICKUP, S.PICKED_UP, S.FAILED],
    S.RETURNING: [S.ASSIGNED, S.AT_PICKUP, S.PICKED_UP, S.FAILED, S.RETURNING],
}


def job_in(status: JobStatus, *, courier: Courier, **fields: Any) -> Job:
    """A pending job walked to ``status`` by the system, assigned to ``courier``."""
    job = JobFactory(**fields)
    for step in WALK_TO[status]:
        job_transition(job=job, to=step, actor=None, courier=courier)
    job.refresh_from_db()
    return job


def step_url(job: Job, step: str) -> str:
    return f"/api/v1/courier/jobs/{job.pk}/{step}/"


def snapshot(job: Job) -> tuple[Any, ...]:
    """What a refused request must leave alone."""
    job.refresh_from_db()
    return (
        job.status,
        job.courier_id,
        job.last_event_seq,
        job.pin_failed_attempts,
        job.is_pin_locked,
        job.needs_review,
        JobEvent.objects.filter(job=job).count(),
        ProofOfDelivery.objects.filter(job=job).count(),
        job.photos.count(),
    )


def moved_away(point: dict[str, float], metres: float) -> dict[str, float]:
    """``point`` moved north by about ``metres`` (1e-5 degrees of latitude ~ 1.11 m)."""
    return {"lat": point["lat"] + metres / 111_195, "lng": point["lng"]}


@pytest.fixture
def other_courier_client(db: None) -> APIClient:
    return client_for(CourierFactory().user)


def test_full_walk_from_assigned_to_delivered_with_proof(
    courier: Courier, courier_client: APIClient
) -> None:
    job = job_in(S.ASSIGNED, courier=courier, pin_required=True, recipient_pin=PIN)

    answer = courier_client.post(step_url(job, "arrive-pickup"), {"position": PICKUP})
    assert answer.status_code == 200, answer.json()
    assert (answer.json()["status"], answer.json()["next_steps"]) == (
        "at_pickup",
        ["pickup", "drop"],
    )

    answer = courier_client.post(
        step_url(job, "pickup"), {"position": PICKUP, "barcode": "PKG-000123"}
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json()["status"] == "picked_up"
    assert answer.json()["picked_up_at"] is not None

    answer = courier_client.post(step_url(job, "arrive-dropoff"), {"position": DROPOFF})
    assert answer.status_code == 200, answer.json()
    assert answer.json()["next_steps"] == ["deliver", "fail"]

    answer = courier_client.post(
        step_url(job, "deliver"),
        {"position": DROPOFF, "pin": PIN, "recipient_name": "Robin R."},
    )
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert (body["status"], body["next_steps"]) == ("delivered", [])
    assert body["proof"]["is_pin_verified"] is True
    assert body["proof"]["recipient_name"] == "Robin R."
    assert body["proof"]["distance_to_dropoff_m"] == 0
    assert body["proof"]["is_outside_geofence"] is False

    job.refresh_from_db()
    courier.refresh_from_db()
    assert job.status == S.DELIVERED
    assert job.delivered_at is not None
    assert job.needs_review is False
    assert courier.status == CourierStatus.AVAILABLE  # busy while holding the job, then free
    events = list(JobEvent.objects.filter(job=job).order_by("seq"))
    assert [(e.seq, e.from_status, e.to_status, e.actor_role) for e in events] == [
        (1, "pending", "assigned", "system"),
        (2, "assigned", "at_pickup", "courier"),
        (3, "at_pickup", "picked_up", "courier"),
        (4, "picked_up", "at_dropoff", "courier"),
        (5, "at_dropoff", "delivered", "courier"),
    ]
    assert job.last_event_seq == 5
    assert all(e.actor_id == courier.user_id for e in events[1:])
    assert [(e.point.y, e.point.x) for e in events[1:]] == [
        (PICKUP["lat"], PICKUP["lng"]),
        (PICKUP["lat"], PICKUP["lng"]),
        (DROPOFF["lat"], DROPOFF["lng"]),
        (DROPOFF["lat"], DROPOFF["lng"]),
    ]
    assert events[2].data == {"distance_to_pickup_m": 0, "barcode": "PKG-000123"}
    proof = ProofOfDelivery.objects.get(job=job)
    assert events[4].data == {
        "proof_id": proof.pk,
        "distance_to_dropoff_m": 0,
        "is_outside_geofence": False,
        "is_pin_verified": True,
    }
    assert (proof.is_pin_verified, proof.recipient_name, proof.photo, proof.signature) == (
        True,
        "Robin R.",
        None,
        None,
    )
    assert (proof.point.y, proof.point.x) == (DROPOFF["lat"], DROPOFF["lng"])


def test_steps_without_a_position_are_fine_and_store_no_point(
    courier: Courier, courier_client: APIClient
) -> None:
    job = job_in(S.ASSIGNED, courier=courier)
    assert courier_client.post(step_url(job, "arrive-pickup"), {}).status_code == 200
    assert courier_client.post(step_url(job, "pickup")).status_code == 200
    event = JobEvent.objects.get(job=job, seq=3)
    assert (event.to_status, event.point, event.data) == ("picked_up", None, {})


def test_fail_moves_on_to_returning_and_returned_ends_the_walk(
    courier: Courier, courier_client: APIClient
) -> None:
    job = job_in(S.AT_DROPOFF, courier=courier)

    answer = courier_client.post(
        step_url(job, "fail"),
        {"reason": "recipient_absent", "note": "Rang twice", "position": DROPOFF},
    )
    assert answer.status_code == 200, answer.json()
    assert (answer.json()["status"], answer.json()["next_steps"]) == ("returning", ["returned"])
    failed, returning = JobEvent.objects.filter(job=job, seq__in=[5, 6]).order_by("seq")
    assert (failed.from_status, failed.to_status) == ("at_dropoff", "failed")
    assert failed.reason == "recipient_absent: Rang twice"
    assert failed.data == {"reason_code": "recipient_absent", "note": "Rang twice"}
    assert (returning.from_status, returning.to_status) == ("failed", "returning")
    courier.refresh_from_db()
    assert courier.status == CourierStatus.BUSY  # still carrying the package

    answer = courier_client.post(step_url(job, "returned"), {"position": PICKUP})
    assert answer.status_code == 200, answer.json()
    assert (answer.json()["status"], answer.json()["next_steps"]) == ("returned", [])
    returned = JobEvent.objects.get(job=job, seq=7)
    assert (returned.from_status, returned.to_status) == ("returning", "returned")
    assert returned.data == {"distance_to_pickup_m": 0}
    job.refresh_from_db()
    courier.refresh_from_db()
    assert (job.status, job.last_event_seq) == (S.RETURNED, 7)
    assert courier.status == CourierStatus.AVAILABLE
    assert not ProofOfDelivery.objects.filter(job=job).exists()


def test_fail_right_after_pickup_is_allowed(courier: Courier, courier_client: APIClient) -> None:
    job = job_in(S.PICKED_UP, courier=courier)
    answer = courier_client.post(step_url(job, "fail"), {"reason": "damaged"})
    assert answer.status_code == 200, answer.json()
    job.refresh_from_db()
    assert job.status == S.RETURNING


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "reason"),
        ({"reason": "bored"}, "reason"),
        ({"reason": 3}, "reason"),
        ({"reason": "other"}, "note"),
        ({"reason": "other", "note": "   "}, "note"),
        ({"reason": "refused", "note": 12}, "note"),
        ({"reason": "refused", "note": "x" * 501}, "note"),
        ({"reason": "refused", "position": {"lat": 52.5}}, "position"),
    ],
)
def test_fail_with_bad_input_is_400_naming_the_field_and_changes_nothing(
    courier: Courier, courier_client: APIClient, body: dict[str, Any], field: str
) -> None:
    job = job_in(S.AT_DROPOFF, courier=courier)
    before = snapshot(job)
    answer = courier_client.post(step_url(job, "fail"), body)
    assert answer.status_code == 400
    assert answer.json()["code"] == "validation_error"
    assert list(answer.json()["fields"]) == [field]
    assert snapshot(job) == before


@pytest.mark.parametrize(
    "position",
    [
        {"lat": 91, "lng": 13.4},
        {"lat": -90.5, "lng": 13.4},
        {"lat": 52.5, "lng": 180.01},
        {"lat": 52.5, "lng": -181},
        {"lat": "52.5", "lng": 13.4},
        {"lat": True, "lng": 13.4},
        {"lat": 52.5},
        {"lng": 13.4},
        [52.5, 13.4],
        "52.5,13.4",
        52.5,
    ],
)
def test_out_of_range_or_malformed_positions_are_refused(
    courier: Courier, courier_client: APIClient, position: Any
) -> None:
    job = job_in(S.ASSIGNED, courier=courier)
    before = snapshot(job)
    answer = courier_client.post(step_url(job, "arrive-pickup"), {"position": position})
    assert answer.status_code == 400
    assert list(answer.json()["fields"]) == ["position"]
    assert snapshot(job) == before


@pytest.mark.parametrize(
    ("status", "step"),
    [
        (S.ASSIGNED, "pickup"),
        (S.ASSIGNED, "arrive-dropoff"),
        (S.ASSIGNED, "deliver"),
        (S.ASSIGNED, "fail"),
        (S.ASSIGNED, "returned"),
        (S.AT_PICKUP, "arrive-pickup"),
        (S.AT_PICKUP, "fail"),
        (S.PICKED_UP, "pickup"),
        (S.PICKED_UP, "deliver"),
        (S.AT_DROPOFF, "arrive-dropoff"),
        (S.AT_DROPOFF, "returned"),
        (S.RETURNING, "deliver"),
        (S.RETURNING, "fail"),
        (S.DELIVERED, "deliver"),
        (S.DELIVERED, "fail"),
    ],
)
def test_a_step_the_status_does_not_allow_is_409_and_changes_nothing(
    courier: Courier, courier_client: APIClient, status: JobStatus, step: str
) -> None:
    job = job_in(status, courier=courier)
    before = snapshot(job)
    body = {"position": DROPOFF, "reason": "refused"}
    answer = courier_client.post(step_url(job, step), body)
    assert answer.status_code == 409, answer.json()
    assert answer.json()["code"] == "invalid_transition"
    assert answer.json()["fields"] == {"status": [status.value]}
    assert snapshot(job) == before


STEPS = ["arrive-pickup", "pickup", "arrive-dropoff", "deliver", "fail", "returned", "drop"]


@pytest.mark.parametrize("step", STEPS)
def test_another_couriers_job_is_404_for_every_step_and_nothing_changes(
    courier: Courier, other_courier_client: APIClient, step: str
) -> None:
    job = job_in(S.AT_DROPOFF, courier=courier)
    before = snapshot(job)
    # A body that would be valid, and one that would not: either way the job does not exist.
    for body in ({"position": DROPOFF, "reason": "refused"}, {"position": "nonsense"}):
        answer = other_courier_client.post(step_url(job, step), body)
        assert answer.status_code == 404
        assert answer.json()["code"] == "not_found"
    assert snapshot(job) == before


@pytest.mark.parametrize("step", STEPS)
def test_shop_and_staff_tokens_are_403_and_no_token_401(
    courier: Courier, step: str, api_client: APIClient
) -> None:
    job = job_in(S.AT_DROPOFF, courier=courier)
    before = snapshot(job)
    shop = client_for(ShopUserFactory(shop=job.shop))
    staff = client_for(UserFactory(is_staff=True))
    for client, expected in ((shop, 403), (staff, 403), (api_client, 401)):
        answer = client.post(step_url(job, step), {"position": DROPOFF})
        assert answer.status_code == expected
    assert snapshot(job) == before


def test_unknown_job_id_is_404(courier_client: APIClient) -> None:
    url = "/api/v1/courier/jobs/00000000-0000-0000-0000-000000000000/arrive-pickup/"
    assert courier_client.post(url, {}).status_code == 404
    assert courier_client.post(
        "/api/v1/courier/jobs/not-a-uuid/arrive-pickup/", {}
    ).status_code == (404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"barcode": 123456}, "barcode"),
        ({"barcode": ["PKG"]}, "barcode"),
        ({"barcode": "x" * 129}, "barcode"),
        ({"photo": "aGVsbG8="}, "photo"),
    ],
)
def test_pickup_with_bad_barcode_or_photo_is_400(
    courier: Courier, courier_client: APIClient, body: dict[str, Any], field: str
) -> None:
    job = job_in(S.AT_PICKUP, courier=courier)
    before = snapshot(job)
    answer = courier_client.post(step_url(job, "pickup"), body)
    assert answer.status_code == 400
    assert list(answer.json()["fields"]) == [field]
    assert snapshot(job) == before


def test_a_form_body_on_a_json_only_step_is_415(
    courier: Courier, courier_client: APIClient
) -> None:
    job = job_in(S.ASSIGNED, courier=courier)
    before = snapshot(job)
    answer = courier_client.post(
        step_url(job, "arrive-pickup"), {"position": json.dumps(PICKUP)}, format="multipart"
    )
    assert answer.status_code == 415
    assert snapshot(job) == before


def test_multipart_steps_take_the_position_as_a_json_string(
    courier: Courier, courier_client: APIClient
) -> None:
    job = job_in(S.AT_PICKUP, courier=courier)
    answer = courier_client.post(
        step_url(job, "pickup"),
        {"position": json.dumps(PICKUP), "barcode": "PKG-1"},
        format="multipart",
    )
    assert answer.status_code == 200, answer.json()
    event = JobEvent.objects.get(job=job, to_status="picked_up")
    assert (event.point.y, event.point.x, event.data["barcode"]) == (
        PICKUP["lat"],
        PICKUP["lng"],
        "PKG-1",
    )


def test_multipart_position_null_is_no_position_as_in_json(
    courier: Courier, courier_client: APIClient
) -> None:
    job = job_in(S.AT_PICKUP, courier=courier)
    answer = courier_client.post(
        step_url(job, "pickup"), {"position": "null", "barcode": "PKG-2"}, format="multipart"
    )
    assert answer.status_code == 200, answer.json()
    event = JobEvent.objects.get(job=job, to_status="picked_up")
    assert (event.point, event.data["barcode"]) == (None, "PKG-2")


@pytest.mark.parametrize("position", ["{not json", '{"lat": 95, "lng": 13}', '"52,13"'])
def test_multipart_position_that_is_not_a_valid_object_is_400(
    courier: Courier, courier_client: APIClient, position: str
) -> None:
    job = job_in(S.AT_PICKUP, courier=courier)
    before = snapshot(job)
    answer = courier_client.post(
        step_url(job, "pickup"), {"position": position}, format="multipart"
    )
    assert answer.status_code == 400
    assert list(answer.json()["fields"]) == ["position"]
    assert snapshot(job) == before


# --- Reading my jobs ----------------------------------------------------------------------


def test_job_list_shows_active_first_then_recent_and_only_mine(
    courier: Courier,
    courier_client: APIClient,
    django_assert_num_queries: Any,
) -> None:
    older = job_in(S.DELIVERED, courier=courier)
    job_in(S.RETURNING, courier=CourierFactory())  # someone else's
    newer_done = job_in(S.DELIVERED, courier=courier)
    ProofOfDelivery.objects.create(job=newer_done, distance_to_dropoff_m=12)
    active = job_in(S.AT_PICKUP, courier=courier, delivery_option=DeliveryOption.LEAVE_AT_DOOR)

    with django_assert_num_queries(3):  # token with user and courier, count, page
        answer = courier_client.get("/api/v1/courier/jobs/")
    assert answer.status_code == 200
    body = answer.json()
    assert body["count"] == 3
    assert [job["id"] for job in body["results"]] == [
        str(active.pk),
        str(newer_done.pk),
        str(older.pk),
    ]
    assert body["results"][0]["proof_required"]["photo"] is True
    assert body["results"][1]["proof"]["distance_to_dropoff_m"] == 12
    assert body["results"][2]["proof"] is None


def test_job_detail_shows_what_the_courier_needs_but_never_the_pin_or_passcode(
    courier: Courier, courier_client: APIClient
) -> None:
    job = job_in(
        S.AT_DROPOFF,
        courier=courier,
        delivery_option=DeliveryOption.LOCKER,
        locker_id="LOCKER-77",
        locker_passcode=LOCKER_PASSCODE,
        pin_required=True,
        recipient_pin=PIN,
        dropoff_contact_name="Front desk",
        dropoff_instructions="Ring 3",
        package_description="Two books",
    )
    answer = courier_client.get(f"/api/v1/courier/jobs/{job.pk}/")
    assert answer.status_code == 200
    body = answer.json()
    assert PIN not in answer.content.decode()
    assert LOCKER_PASSCODE not in answer.content.decode()
    assert "recipient_pin" not in body
    assert "locker_passcode" not in body
    assert body["pickup"] == {
        "address": "Alexanderplatz 1, Berlin",
        "point": PICKUP,
        "contact_name": "",
        "contact_phone": "",
        "instructions": "",
    }
    assert body["dropoff"] == {
        "address": "Potsdamer Platz 1, Berlin",
        "point": DROPOFF,
        "contact_name": "Front desk",
        "contact_phone": "",
        "instructions": "Ring 3",
    }
    assert body["recipient"] == {"name": "Robin Recipient", "phone": "+4930123456"}
    assert body["package"] == {"size": "small", "weight_g": 1200, "description": "Two books"}
    assert (body["delivery_option"], body["locker_id"]) == ("locker", "LOCKER-77")
    assert body["alternate_location"] is None
    assert body["proof_required"] == {
        "position": True,
        "pin": True,
        "photo": False,
        "locker_id": True,
        "signature": False,
        "geofence_m": 150,
        "geofence_point": DROPOFF,
    }
    assert body["pin"] == {"is_locked": False, "failed_attempts": 0}
    assert (body["courier_payout_minor"], body["currency"]) == (509, "eur")


def test_alternate_location_is_shown_and_is_the_geofence_point(
    courier: Courier, courier_client: APIClient
) -> None:
    from django.contrib.gis.geos import Point

    job = job_in(
        S.PICKED_UP,
        courier=courier,
        delivery_option=DeliveryOption.ALTERNATE_LOCATION,
        alternate_address="Neighbour, Leipziger Str. 1",
        alternate_point=Point(13.38, 52.51, srid=4326),
        alternate_note="Ground floor",
    )
    body = courier_client.get(f"/api/v1/courier/jobs/{job.pk}/").json()
    assert body["alternate_location"] == {
        "address": "Neighbour, Leipziger Str. 1",
        "point": {"lat": 52.51, "lng": 13.38},
        "note": "Ground floor",
    }
    assert body["proof_required"]["geofence_point"] == {"lat": 52.51, "lng": 13.38}
    assert body["pin"] is None


def test_job_detail_of_another_couriers_job_is_404(
    courier: Courier, other_courier_client: APIClient, shop_client: APIClient
) -> None:
    job = job_in(S.ASSIGNED, courier=courier)
    assert other_courier_client.get(f"/api/v1/courier/jobs/{job.pk}/").status_code == 404
    assert shop_client.get(f"/api/v1/courier/jobs/{job.pk}/").status_code == 403
    assert shop_client.get("/api/v1/courier/jobs/").status_code == 403


def test_a_pending_job_never_assigned_to_me_is_404(
    courier_client: APIClient, shop_user: User
) -> None:
    job = JobFactory(shop=shop_user.shop)
    assert courier_client.get(f"/api/v1/courier/jobs/{job.pk}/").status_code == 404
    assert courier_client.post(step_url(job, "arrive-pickup"), {}).status_code == 404


def test_the_fail_service_itself_asks_for_a_note_on_other_and_strips_it(courier: Courier) -> None:
    job = job_in(S.AT_DROPOFF, courier=courier)
    before = snapshot(job)

    with pytest.raises(FailureNoteRequired) as refused:
        job_fail(job_pk=job.pk, courier=courier, actor=courier.user, reason="other", note="  ")
    assert (refused.value.code, refused.value.fields) == (
        "validation_error",
        {"note": ["Say what happened."]},
    )
    assert snapshot(job) == before

    job_fail(job_pk=job.pk, courier=courier, actor=courier.user, reason="other", note=" Dog ")
    failed = JobEvent.objects.get(job=job, to_status=S.FAILED)
    assert failed.data == {"reason_code": "other", "note": "Dog"}
