"""Proof of delivery: PIN checks and lockout, photos, lockers, the geofence, reading proof."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from django.contrib.gis.geos import Point
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from couriers.models import Courier
from jobs.models import DeliveryOption, Job, JobEvent, JobPhoto, JobStatus, ProofOfDelivery
from marketplace.models import User
from tests.concurrency import race
from tests.conftest import client_for
from tests.factories import CourierFactory, ShopUserFactory, UserFactory
from tests.jobs.test_courier_steps import DROPOFF, PIN, job_in, moved_away, snapshot, step_url

S = JobStatus

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4


def deliver_url(job: Job) -> str:
    return step_url(job, "deliver")


def pin_job(courier: Courier, **fields: Any) -> Job:
    return job_in(S.AT_DROPOFF, courier=courier, pin_required=True, recipient_pin=PIN, **fields)


def upload(name: str, data: bytes, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


@pytest.fixture
def staff_api(db: None) -> APIClient:
    return client_for(UserFactory(is_staff=True))


@pytest.fixture
def delivered_with_photos(courier: Courier, courier_client: APIClient) -> Job:
    """A leave-at-door job delivered with a photo (PNG named .jpg) and a JPEG signature."""
    job = job_in(S.AT_DROPOFF, courier=courier, delivery_option=DeliveryOption.LEAVE_AT_DOOR)
    answer = courier_client.post(
        deliver_url(job),
        {
            "position": json.dumps(moved_away(DROPOFF, 40)),
            "photo": upload("door.jpg", PNG),
            "signature": upload("sig.png", JPEG, "image/png"),
            "recipient_name": "Neighbour",
        },
        format="multipart",
    )
    assert answer.status_code == 200, answer.json()
    return job


# --- PIN -----------------------------------------------------------------------------------


def test_right_pin_delivers_and_verifies(courier: Courier, courier_client: APIClient) -> None:
    job = pin_job(courier)
    answer = courier_client.post(deliver_url(job), {"position": DROPOFF, "pin": PIN})
    assert answer.status_code == 200, answer.json()
    proof = ProofOfDelivery.objects.get(job=job)
    assert proof.is_pin_verified is True
    job.refresh_from_db()
    assert (job.status, job.pin_failed_attempts) == (S.DELIVERED, 0)


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"position": DROPOFF}, "proof_required", "pin"),
        ({"position": DROPOFF, "pin": ""}, "proof_required", "pin"),
        ({"position": DROPOFF, "pin": 4821}, "validation_error", "pin"),
        ({"position": DROPOFF, "pin": "1" * 17}, "validation_error", "pin"),
        ({"pin": PIN}, "validation_error", "position"),
        ({"pin": PIN, "position": None}, "validation_error", "position"),
    ],
)
def test_missing_or_mistyped_pin_or_position_costs_no_attempt(
    courier: Courier, courier_client: APIClient, body: dict[str, Any], code: str, field: str
) -> None:
    job = pin_job(courier)
    before = snapshot(job)
    answer = courier_client.post(deliver_url(job), body)
    assert answer.status_code == 400
    assert answer.json()["code"] == code
    assert list(answer.json()["fields"]) == [field]
    assert snapshot(job) == before


def test_wrong_pins_count_down_then_lock_and_even_the_right_pin_is_refused(
    courier: Courier, courier_client: APIClient
) -> None:
    job = pin_job(courier)
    for attempts_left in (4, 3, 2, 1, 0):
        answer = courier_client.post(deliver_url(job), {"position": DROPOFF, "pin": "0000"})
        assert answer.status_code == 400
        body = answer.json()
        assert (body["code"], body["attempts_left"]) == ("wrong_pin", attempts_left)
        assert list(body["fields"]) == ["pin"]
        if attempts_left == 1:
            assert body["message"] == "Wrong PIN. 1 attempt left."
        job.refresh_from_db()
        # Persisted although the delivery was refused.
        assert job.pin_failed_attempts == 5 - attempts_left
        assert job.status == S.AT_DROPOFF
    assert (job.is_pin_locked, job.needs_review) == (True, True)
    assert job.review_reason == "PIN locked after 5 wrong attempts."

    before = snapshot(job)
    answer = courier_client.post(deliver_url(job), {"position": DROPOFF, "pin": PIN})
    assert answer.status_code == 409
    assert (answer.json()["code"], answer.json()["attempts_left"]) == ("pin_locked", 0)
    assert snapshot(job) == before
    assert not ProofOfDelivery.objects.filter(job=job).exists()
    assert job.last_event_seq == 4  # no event for PIN attempts


def test_staff_unlock_resets_the_pin_without_an_event_and_the_courier_can_deliver(
    courier: Courier, courier_client: APIClient, staff_api: APIClient
) -> None:
    job = pin_job(courier, pin_failed_attempts=5, is_pin_locked=True, needs_review=True)
    answer = staff_api.post(f"/api/v1/jobs/{job.pk}/pin/unlock/", {"note": "Called recipient"})
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert (body["is_pin_locked"], body["pin_failed_attempts"], body["needs_review"]) == (
        False,
        0,
        True,
    )
    assert body["review_reason"].startswith("PIN unlocked by staff user")
    assert body["review_reason"].endswith("after 5 wrong attempts. Called recipient")
    job.refresh_from_db()
    assert (job.is_pin_locked, job.pin_failed_attempts, job.last_event_seq) == (False, 0, 4)

    wrong = courier_client.post(deliver_url(job), {"position": DROPOFF, "pin": "1111"})
    assert wrong.json()["attempts_left"] == 4
    right = courier_client.post(deliver_url(job), {"position": DROPOFF, "pin": PIN})
    assert right.status_code == 200, right.json()


def test_unlock_is_staff_only_and_refuses_an_unlocked_pin(
    courier: Courier, courier_client: APIClient, staff_api: APIClient
) -> None:
    job = pin_job(courier, pin_failed_attempts=5, is_pin_locked=True)
    url = f"/api/v1/jobs/{job.pk}/pin/unlock/"
    owner = client_for(ShopUserFactory(shop=job.shop))
    assert owner.post(url).status_code == 403
    assert courier_client.post(url).status_code == 403
    job.refresh_from_db()
    assert (job.is_pin_locked, job.pin_failed_attempts) == (True, 5)

    assert staff_api.post(url, {"note": 5}).status_code == 400
    assert staff_api.post(url).status_code == 200
    again = staff_api.post(url)
    assert (again.status_code, again.json()["code"]) == (409, "pin_not_locked")
    missing = staff_api.post("/api/v1/jobs/00000000-0000-0000-0000-000000000000/pin/unlock/")
    assert missing.status_code == 404


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_guesses_never_exceed_the_limit() -> None:
    courier = CourierFactory()
    job = pin_job(courier)
    guesses = 8

    def guess(index: int) -> tuple[int, dict[str, Any]]:
        answer = client_for(courier.user).post(
            deliver_url(job), {"position": DROPOFF, "pin": f"9{index:03d}"}
        )
        return answer.status_code, answer.json()

    results = race(*[lambda i=i: guess(i) for i in range(guesses)])
    wrong = sorted(body["attempts_left"] for code, body in results if code == 400)
    locked = [body["code"] for code, body in results if code == 409]
    assert wrong == [0, 1, 2, 3, 4]
    assert locked == ["pin_locked"] * (guesses - 5)
    job.refresh_from_db()
    assert (job.pin_failed_attempts, job.is_pin_locked, job.status) == (5, True, S.AT_DROPOFF)


# --- Photos, signature, locker, alternate location ----------------------------------------


def test_leave_at_door_needs_a_photo(courier: Courier, courier_client: APIClient) -> None:
    job = job_in(S.AT_DROPOFF, courier=courier, delivery_option=DeliveryOption.LEAVE_AT_DOOR)
    before = snapshot(job)
    answer = courier_client.post(deliver_url(job), {"position": DROPOFF})
    assert answer.status_code == 400
    assert (answer.json()["code"], list(answer.json()["fields"])) == ("proof_required", ["photo"])
    assert snapshot(job) == before


def test_photo_and_signature_are_stored_by_content_with_hash_and_size(
    delivered_with_photos: Job,
) -> None:
    job = delivered_with_photos
    proof = ProofOfDelivery.objects.select_related("photo", "signature").get(job=job)
    assert (proof.photo.kind, proof.photo.content_type) == ("delivery", "image/png")
    assert bytes(proof.photo.data) == PNG
    assert proof.photo.size_bytes == len(PNG)
    assert proof.photo.sha256 == hashlib.sha256(PNG).hexdigest()
    assert (proof.signature.kind, proof.signature.content_type) == ("signature", "image/jpeg")
    assert proof.recipient_name == "Neighbour"
    assert proof.photo.uploaded_by_id == job.courier.user_id
    assert 39 <= proof.distance_to_dropoff_m <= 41


def test_a_refused_delivery_keeps_no_photo(courier: Courier, courier_client: APIClient) -> None:
    job = pin_job(courier, delivery_option=DeliveryOption.LEAVE_AT_DOOR)
    answer = courier_client.post(
        deliver_url(job),
        {"position": json.dumps(DROPOFF), "pin": "0000", "photo": upload("a.png", PNG)},
        format="multipart",
    )
    assert answer.json()["code"] == "wrong_pin"
    assert not JobPhoto.objects.filter(job=job).exists()


def test_locker_delivery_needs_the_jobs_locker_id(
    courier: Courier, courier_client: APIClient
) -> None:
    job = job_in(
        S.AT_DROPOFF,
        courier=courier,
        delivery_option=DeliveryOption.LOCKER,
        locker_id="LK-12",
        locker_passcode="5555",
    )
    before = snapshot(job)
    missing = courier_client.post(deliver_url(job), {"position": DROPOFF})
    assert (missing.status_code, missing.json()["code"]) == (400, "proof_required")
    assert list(missing.json()["fields"]) == ["locker_id"]
    wrong = courier_client.post(deliver_url(job), {"position": DROPOFF, "locker_id": "LK-13"})
    assert (wrong.status_code, wrong.json()["code"]) == (400, "wrong_locker")
    assert list(wrong.json()["fields"]) == ["locker_id"]
    assert snapshot(job) == before
    right = courier_client.post(deliver_url(job), {"position": DROPOFF, "locker_id": "LK-12"})
    assert right.status_code == 200, right.json()


def test_alternate_location_is_fenced_around_the_alternate_point(
    courier: Courier, courier_client: APIClient
) -> None:
    alternate = {"lat": 52.5200, "lng": 13.3700}  # ~1.2 km from the dropoff
    job = job_in(
        S.AT_DROPOFF,
        courier=courier,
        delivery_option=DeliveryOption.ALTERNATE_LOCATION,
        alternate_point=Point(alternate["lng"], alternate["lat"], srid=4326),
    )
    at_dropoff = courier_client.post(deliver_url(job), {"position": DROPOFF})
    assert at_dropoff.json()["code"] == "geofence_reason_required"
    answer = courier_client.post(deliver_url(job), {"position": alternate})
    assert answer.status_code == 200, answer.json()
    proof = ProofOfDelivery.objects.get(job=job)
    assert (proof.distance_to_dropoff_m, proof.is_outside_geofence) == (0, False)


# --- Geofence ----------------------------------------------------------------------------


def test_inside_the_geofence_needs_no_reason(courier: Courier, courier_client: APIClient) -> None:
    job = job_in(S.AT_DROPOFF, courier=courier)
    answer = courier_client.post(deliver_url(job), {"position": moved_away(DROPOFF, 140)})
    assert answer.status_code == 200, answer.json()
    job.refresh_from_db()
    proof = ProofOfDelivery.objects.get(job=job)
    assert (proof.distance_to_dropoff_m, proof.is_outside_geofence) == (140, False)
    assert job.needs_review is False


def test_outside_the_geofence_needs_a_reason_and_flags_the_job(
    courier: Courier, courier_client: APIClient
) -> None:
    job = job_in(S.AT_DROPOFF, courier=courier)
    before = snapshot(job)
    far = moved_away(DROPOFF, 160)
    for body in ({"position": far}, {"position": far, "geofence_reason": "   "}):
        answer = courier_client.post(deliver_url(job), body)
        assert answer.status_code == 400
        assert answer.json()["code"] == "geofence_reason_required"
        assert list(answer.json()["fields"]) == ["geofence_reason"]
        assert "160 m" in answer.json()["message"]
    assert snapshot(job) == before

    answer = courier_client.post(
        deliver_url(job), {"position": far, "geofence_reason": "Gate locked, left at lodge"}
    )
    assert answer.status_code == 200, answer.json()
    job.refresh_from_db()
    proof = ProofOfDelivery.objects.get(job=job)
    assert (proof.distance_to_dropoff_m, proof.is_outside_geofence) == (160, True)
    assert proof.geofence_reason == "Gate locked, left at lodge"
    assert job.needs_review is True
    assert job.review_reason == (
        "Delivered 160 m from the delivery point (geofence 150 m): Gate locked, left at lodge"
    )
    event = JobEvent.objects.get(job=job, to_status="delivered")
    assert (event.data["is_outside_geofence"], event.data["distance_to_dropoff_m"]) == (True, 160)


# --- Racing deliveries ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_racing_deliveries_make_exactly_one_delivery() -> None:
    for _ in range(5):
        courier = CourierFactory()
        job = job_in(S.AT_DROPOFF, courier=courier, delivery_option=DeliveryOption.LEAVE_AT_DOOR)

        def deliver(name: str, job: Job = job, courier: Courier = courier) -> tuple[int, str]:
            answer = client_for(courier.user).post(
                deliver_url(job),
                {"position": json.dumps(DROPOFF), "photo": upload(name, PNG)},
                format="multipart",
            )
            return answer.status_code, answer.json().get("code", answer.json().get("status"))

        results = race(lambda: deliver("a.png"), lambda: deliver("b.png"))
        assert sorted(results) == [(200, "delivered"), (409, "invalid_transition")]
        job.refresh_from_db()
        assert ProofOfDelivery.objects.filter(job=job).count() == 1
        assert JobPhoto.objects.filter(job=job).count() == 1  # the loser's photo rolled back
        events = list(JobEvent.objects.filter(job=job).order_by("seq"))
        assert [e.seq for e in events] == [1, 2, 3, 4, 5]
        assert [e.to_status for e in events][-1] == "delivered"
        assert (job.status, job.last_event_seq) == (S.DELIVERED, 5)


# --- Reading proof ---------------------------------------------------------------------------


def test_shop_reads_its_proof_with_photo_urls(
    delivered_with_photos: Job, django_assert_num_queries: Any
) -> None:
    job = delivered_with_photos
    owner = client_for(ShopUserFactory(shop=job.shop))
    with django_assert_num_queries(4):  # token, job, proof, photos
        answer = owner.get(f"/api/v1/jobs/{job.pk}/proof/")
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    proof = ProofOfDelivery.objects.get(job=job)
    photo_url = f"http://testserver/api/v1/jobs/{job.pk}/photos/{proof.photo_id}/"
    assert body["job_id"] == str(job.pk)
    assert (body["status"], body["is_pin_verified"], body["recipient_name"]) == (
        "delivered",
        False,
        "Neighbour",
    )
    assert (body["geofence_m"], body["is_outside_geofence"], body["needs_review"]) == (
        150,
        False,
        False,
    )
    assert body["distance_to_dropoff_m"] == proof.distance_to_dropoff_m
    assert body["photo"]["url"] == photo_url
    assert (body["photo"]["content_type"], body["photo"]["size_bytes"]) == ("image/png", len(PNG))
    assert body["photo"]["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert body["signature"]["content_type"] == "image/jpeg"
    assert [p["kind"] for p in body["photos"]] == ["delivery", "signature"]


def test_proof_is_hidden_from_other_shops_and_couriers_and_404_before_delivery(
    delivered_with_photos: Job, courier_client: APIClient, staff_api: APIClient, courier: Courier
) -> None:
    job = delivered_with_photos
    url = f"/api/v1/jobs/{job.pk}/proof/"
    assert client_for(ShopUserFactory()).get(url).status_code == 404
    assert courier_client.get(url).status_code == 403
    assert staff_api.get(url).status_code == 200
    undelivered = job_in(S.AT_DROPOFF, courier=CourierFactory(), shop=job.shop)
    owner = client_for(ShopUserFactory(shop=job.shop))
    assert owner.get(f"/api/v1/jobs/{undelivered.pk}/proof/").status_code == 404


def test_photo_bytes_are_served_with_their_stored_type_to_those_allowed(
    delivered_with_photos: Job, courier_client: APIClient, staff_api: APIClient
) -> None:
    job = delivered_with_photos
    proof = ProofOfDelivery.objects.get(job=job)
    url = f"/api/v1/jobs/{job.pk}/photos/{proof.photo_id}/"
    owner = client_for(ShopUserFactory(shop=job.shop))
    for client in (owner, staff_api, courier_client):
        answer = client.get(url, HTTP_ACCEPT="image/*")
        assert answer.status_code == 200
        assert answer["Content-Type"] == "image/png"
        assert answer["X-Content-Type-Options"] == "nosniff"
        assert answer.content == PNG

    assert client_for(ShopUserFactory()).get(url).status_code == 404
    assert client_for(CourierFactory().user).get(url).status_code == 404
    other_job = job_in(S.AT_DROPOFF, courier=CourierFactory(), shop=job.shop)
    wrong_pair = f"/api/v1/jobs/{other_job.pk}/photos/{proof.photo_id}/"
    missing = owner.get(wrong_pair, HTTP_ACCEPT="image/png")
    assert (missing.status_code, missing["Content-Type"]) == (404, "application/json")


def test_a_user_without_a_role_sees_no_proof(delivered_with_photos: Job, db: None) -> None:
    nobody: User = UserFactory()
    answer = client_for(nobody).get(f"/api/v1/jobs/{delivered_with_photos.pk}/proof/")
    assert answer.status_code == 403
