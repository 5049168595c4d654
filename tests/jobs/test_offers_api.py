"""The courier offer endpoints: list, accept, decline, and every way of getting them wrong."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from couriers.models import Courier, CourierStatus
from jobs.api.offers import OfferOutputSerializer
from jobs.dispatch import dispatch_job, offer_data, offer_frame
from jobs.models import Job, JobStatus, Offer, OfferStatus
from tests.conftest import client_for
from tests.factories import OfferFactory, ShopUserFactory
from tests.jobs.dispatch_helpers import courier_at, pending_job

pytestmark = pytest.mark.django_db

OFFERS = "/api/v1/courier/offers/"


def accept_url(offer_pk: object) -> str:
    return f"{OFFERS}{offer_pk}/accept/"


def decline_url(offer_pk: object) -> str:
    return f"{OFFERS}{offer_pk}/decline/"


@pytest.fixture
def offered() -> tuple[Courier, Offer]:
    """An available courier with one open offer from a real dispatch pass."""
    courier = courier_at(1200)
    job = pending_job(
        pickup_after=timezone.now() + timedelta(minutes=5),
        tip_minor=150,
    )
    (offer,) = dispatch_job(job_pk=job.pk).offers
    return courier, offer


def snapshot(offer: Offer) -> tuple[object, ...]:
    offer.refresh_from_db()
    job = Job.objects.get(pk=offer.job_id)
    courier = Courier.objects.get(pk=offer.courier_id)
    return (
        offer.status,
        offer.responded_at,
        offer.decline_reason,
        job.status,
        job.courier_id,
        job.last_event_seq,
        courier.status,
        courier.acceptance_rate,
    )


def test_list_shows_the_open_offer_as_the_socket_frame_does(offered) -> None:
    courier, offer = offered
    job = offer.job

    response = client_for(courier.user).get(OFFERS)

    assert response.status_code == 200
    (item,) = response.json()
    assert item == {
        "offer_id": str(offer.pk),
        "job_id": str(job.pk),
        "expires_at": offer.expires_at.isoformat().replace("+00:00", "Z"),
        "pickup": {
            "address": "Alexanderplatz 1, Berlin",
            "lat": 52.5219,
            "lng": 13.4132,
            "after": job.pickup_after.isoformat().replace("+00:00", "Z"),
        },
        "dropoff": {
            "address": "Potsdamer Platz 1, Berlin",
            "lat": 52.5096,
            "lng": 13.376,
            "before": None,
        },
        "distance_m": offer.distance_m,
        "trip_distance_m": 2800,
        "payout_minor": 509,
        "tip_minor": 150,
        "currency": "eur",
        "package_size": "small",
        "dispatch_round": 0,
    }
    assert 1190 <= offer.distance_m <= 1210
    assert offer_frame(offer) == {"type": "offer", **item}
    assert set(item) == set(OfferOutputSerializer().fields)


def test_list_leaves_out_expired_answered_others_and_jobs_no_longer_pending(offered) -> None:
    courier, open_offer = offered
    # A second open offer for the same courier (made directly; dispatch would not).
    second = OfferFactory(courier=courier, expires_at=timezone.now() + timedelta(seconds=5))
    OfferFactory(courier=courier, expires_at=timezone.now() - timedelta(seconds=1))
    OfferFactory(courier=courier, status=OfferStatus.DECLINED)
    OfferFactory(courier=courier, job__status=JobStatus.CANCELLED)
    OfferFactory(courier=courier_at(800))

    with CaptureQueriesContext(connection) as queries:
        response = client_for(courier.user).get(OFFERS)

    assert response.status_code == 200
    assert [o["offer_id"] for o in response.json()] == [str(second.pk), str(open_offer.pk)]
    assert len(queries) == 2  # the token, then offers joined with their jobs


def test_accept_returns_the_assigned_job(offered) -> None:
    courier, offer = offered

    response = client_for(courier.user).post(accept_url(offer.pk))

    assert response.status_code == 200, response.json()
    assert response.json() == {
        "offer_id": str(offer.pk),
        "status": "accepted",
        "job_id": str(offer.job_id),
        "job_status": "assigned",
    }
    assert Job.objects.get(pk=offer.job_id).courier_id == courier.pk
    assert client_for(courier.user).get(OFFERS).json() == []


def test_decline_stores_the_reason(offered) -> None:
    courier, offer = offered

    response = client_for(courier.user).post(decline_url(offer.pk), {"reason": "Too far"})

    assert response.status_code == 200, response.json()
    assert response.json() == {
        "offer_id": str(offer.pk),
        "status": "declined",
        "job_id": str(offer.job_id),
        "job_status": "pending",
    }
    offer.refresh_from_db()
    assert (offer.status, offer.decline_reason) == (OfferStatus.DECLINED, "Too far")


def test_decline_without_a_body_is_fine(offered) -> None:
    courier, offer = offered

    response = client_for(courier.user).post(decline_url(offer.pk))

    assert response.status_code == 200
    offer.refresh_from_db()
    assert (offer.status, offer.decline_reason) == (OfferStatus.DECLINED, "")


@pytest.mark.parametrize(
    "body",
    [{"reason": "x" * 201}, {"reason": ["too", "far"]}, {"reason": {"why": 1}}, {"reason": None}],
)
def test_a_bad_reason_is_a_400_naming_the_field(offered, body: dict) -> None:
    courier, offer = offered
    before = snapshot(offer)

    response = client_for(courier.user).post(decline_url(offer.pk), body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert list(response.json()["fields"]) == ["reason"]
    assert snapshot(offer) == before


@pytest.mark.parametrize("action", [accept_url, decline_url])
def test_unknown_offer_is_404(offered, action) -> None:
    courier, offer = offered
    before = snapshot(offer)

    response = client_for(courier.user).post(action(uuid.uuid4()))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert snapshot(offer) == before


@pytest.mark.parametrize("action", [accept_url, decline_url])
def test_someone_elses_offer_is_404_and_nothing_changes(offered, action) -> None:
    _, offer = offered
    intruder = courier_at(300)
    before = snapshot(offer)
    intruder_before = Courier.objects.values_list("status", "acceptance_rate").get(pk=intruder.pk)

    response = client_for(intruder.user).post(action(offer.pk))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert snapshot(offer) == before
    assert (
        Courier.objects.values_list("status", "acceptance_rate").get(pk=intruder.pk)
        == intruder_before
    )


@pytest.mark.parametrize("action", [accept_url, decline_url])
def test_malformed_offer_id_is_404(offered, action) -> None:
    courier, offer = offered
    before = snapshot(offer)

    response = client_for(courier.user).post(action("not-a-uuid"))

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert snapshot(offer) == before


@pytest.mark.parametrize("method", ["list", "accept", "decline"])
def test_a_shop_token_is_403_and_no_token_401(offered, method: str) -> None:
    _, offer = offered
    before = snapshot(offer)
    shop = client_for(ShopUserFactory())
    anonymous = APIClient()

    for client, expected in ((shop, 403), (anonymous, 401)):
        if method == "list":
            response = client.get(OFFERS)
        else:
            url = accept_url(offer.pk) if method == "accept" else decline_url(offer.pk)
            response = client.post(url)
        assert response.status_code == expected
        assert response.json()["code"] in {"permission_denied", "not_authenticated"}
    assert snapshot(offer) == before


def test_accept_after_decline_is_409(offered) -> None:
    courier, offer = offered
    client = client_for(courier.user)
    assert client.post(decline_url(offer.pk)).status_code == 200
    before = snapshot(offer)

    response = client.post(accept_url(offer.pk))

    assert response.status_code == 409
    assert response.json()["code"] == "offer_no_longer_available"
    assert snapshot(offer) == before


def test_decline_after_accept_is_409_and_the_job_stays_assigned(offered) -> None:
    courier, offer = offered
    client = client_for(courier.user)
    assert client.post(accept_url(offer.pk)).status_code == 200
    before = snapshot(offer)

    response = client.post(decline_url(offer.pk))

    assert response.status_code == 409
    assert response.json()["code"] == "offer_no_longer_available"
    assert snapshot(offer) == before


def test_accept_after_the_deadline_is_409(offered) -> None:
    courier, offer = offered
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = client_for(courier.user).post(accept_url(offer.pk))

    assert response.status_code == 409
    assert response.json()["code"] == "offer_no_longer_available"
    job = Job.objects.get(pk=offer.job_id)
    assert (job.status, job.courier_id) == ("pending", None)
    courier.refresh_from_db()
    assert courier.status == CourierStatus.AVAILABLE


def test_accept_of_a_withdrawn_offer_is_409(offered) -> None:
    courier, offer = offered
    Offer.objects.filter(pk=offer.pk).update(status=OfferStatus.WITHDRAWN)

    response = client_for(courier.user).post(accept_url(offer.pk))

    assert response.status_code == 409
    assert response.json()["code"] == "offer_no_longer_available"
    assert Job.objects.get(pk=offer.job_id).status == "pending"


def test_get_on_accept_is_405(offered) -> None:
    courier, offer = offered
    response = client_for(courier.user).get(accept_url(offer.pk))
    assert response.status_code == 405


def test_the_endpoints_are_in_the_schema(client) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert "get" in paths["/api/v1/courier/offers/"]
    assert "post" in paths["/api/v1/courier/offers/{offer_id}/accept/"]
    assert "post" in paths["/api/v1/courier/offers/{offer_id}/decline/"]


def test_offer_data_matches_the_documented_serializer(offered) -> None:
    _, offer = offered
    data = offer_data(offer)
    assert set(data) == set(OfferOutputSerializer().fields)
    assert set(data["pickup"]) == {"address", "lat", "lng", "after"}
    assert set(data["dropoff"]) == {"address", "lat", "lng", "before"}
