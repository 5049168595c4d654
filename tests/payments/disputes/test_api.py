"""The disputes API: shops open and read disputes, couriers list and answer them; bad input,
other parties' objects and illegal states, with nothing stored when refused."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from jobs.models import JobEvent, JobStatus, WebhookDelivery
from payments.models import Dispute, DisputeMessage, DisputePhoto
from tests.conftest import client_for
from tests.factories import CourierFactory, JobFactory, ShopUserFactory

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
BODY = {
    "reason": "damaged",
    "description": "Crushed box.",
    "claim": {"value_minor": 1500, "fee_minor": 636, "tip_minor": 0},
}


def _url(job) -> str:
    return f"/api/v1/jobs/{job.pk}/disputes/"


def _post(client, job, body=None, **kwargs):
    return client.post(_url(job), body if body is not None else BODY, format="json", **kwargs)


def test_shop_opens_a_dispute(delivered_job, shop_member) -> None:
    response = _post(client_for(shop_member), delivered_job)
    assert response.status_code == 201, response.json()
    body = response.json()
    dispute = Dispute.objects.get()
    assert body == {
        "id": str(dispute.pk),
        "job_id": str(delivered_job.pk),
        "opener": "shop",
        "reason": "damaged",
        "description": "Crushed box.",
        "state": "awaiting_courier",
        "claim": {"value_minor": 1500, "fee_minor": 636, "tip_minor": 0},
        "currency": "eur",
        "courier_reply_due_at": dispute.courier_reply_due_at.isoformat().replace("+00:00", "Z"),
        "resolution": "",
        "stripe_outcome": "",
        "photo_count": 0,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
        "resolved_at": None,
    }


def test_shop_opens_with_photos_as_multipart(delivered_job, shop_member) -> None:
    photos = [SimpleUploadedFile(f"p{i}.png", PNG, content_type="image/png") for i in range(2)]
    response = client_for(shop_member).post(
        _url(delivered_job),
        {
            "reason": "damaged",
            "description": "See photos.",
            "claim": json.dumps({"value_minor": 100, "fee_minor": 0, "tip_minor": 0}),
            "photos": photos,
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["photo_count"] == 2
    assert list(DisputePhoto.objects.values_list("party", "content_type", "size_bytes")) == [
        ("shop", "image/png", len(PNG)),
        ("shop", "image/png", len(PNG)),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BODY, "claim": None}, "claim"),
        ({k: v for k, v in BODY.items() if k != "claim"}, "claim"),
        ({k: v for k, v in BODY.items() if k != "reason"}, "reason"),
        ({**BODY, "reason": "bored"}, "reason"),
        ({**BODY, "description": 12}, "description"),
        ({**BODY, "claim": {"value_minor": "5", "fee_minor": 0, "tip_minor": 0}}, "claim"),
        ({**BODY, "claim": {"value_minor": 2**62 + 1, "fee_minor": 0, "tip_minor": 0}}, "claim"),
        ({**BODY, "claim": {"value_minor": -1, "fee_minor": 0, "tip_minor": 0}}, "claim"),
        ({**BODY, "claim": {"value_minor": 1.5, "fee_minor": 0, "tip_minor": 0}}, "claim"),
        ({**BODY, "claim": {"value_minor": 1, "fee_minor": 0}}, "claim"),
        ({**BODY, "claim": [1, 2, 3]}, "claim"),
    ],
)
def test_bad_input_is_400_naming_the_field(delivered_job, shop_member, body, field) -> None:
    response = _post(client_for(shop_member), delivered_job, body)
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "validation_error"
    assert list(response.json()["fields"]) == [field]
    assert Dispute.objects.count() == 0


def test_an_integer_beyond_64_bits_is_refused_when_parsing(delivered_job, shop_member) -> None:
    body = {**BODY, "claim": {"value_minor": 2**70, "fee_minor": 0, "tip_minor": 0}}
    response = _post(client_for(shop_member), delivered_job, body)
    assert (response.status_code, response.json()["code"]) == (400, "parse_error")
    assert Dispute.objects.count() == 0


def test_multipart_with_a_broken_claim_or_a_non_image(delivered_job, shop_member) -> None:
    client = client_for(shop_member)
    broken = client.post(
        _url(delivered_job), {"reason": "damaged", "claim": "{not json"}, format="multipart"
    )
    assert (broken.status_code, broken.json()["code"]) == (400, "parse_error")
    assert list(broken.json()["fields"]) == ["claim"]
    not_image = client.post(
        _url(delivered_job),
        {
            "reason": "damaged",
            "claim": json.dumps({"value_minor": 1, "fee_minor": 0, "tip_minor": 0}),
            "photos": [
                SimpleUploadedFile("x.png", b"GIF89a-not-allowed", content_type="image/png")
            ],
        },
        format="multipart",
    )
    assert (not_image.status_code, not_image.json()["code"]) == (400, "unsupported_image")
    assert Dispute.objects.count() == 0


def test_claim_over_the_charge_is_422(delivered_job, shop_member) -> None:
    body = {**BODY, "claim": {"value_minor": 0, "fee_minor": 637, "tip_minor": 0}}
    response = _post(client_for(shop_member), delivered_job, body)
    assert response.status_code == 422
    assert response.json()["code"] == "amount_exceeds_charge"
    assert response.json()["fields"] == {"claim_fee_minor": ["At most 636."]}
    assert Dispute.objects.count() == 0


def test_second_open_dispute_and_closed_window_are_409(delivered_job, shop_member) -> None:
    client = client_for(shop_member)
    assert _post(client, delivered_job).status_code == 201
    again = _post(client, delivered_job)
    assert (again.status_code, again.json()["code"]) == (409, "dispute_already_open")
    type(delivered_job).objects.filter(pk=delivered_job.pk).update(
        ended_at=timezone.now() - timedelta(days=15)
    )
    Dispute.objects.update(state="rejected")
    late = _post(client, delivered_job)
    assert (late.status_code, late.json()["code"]) == (409, "dispute_not_allowed")
    assert Dispute.objects.count() == 1


def test_other_parties_get_404_or_403(delivered_job, carrier) -> None:
    other = _post(client_for(ShopUserFactory()), delivered_job)
    assert (other.status_code, other.json()["code"]) == (404, "not_found")
    as_courier = _post(client_for(carrier.user), delivered_job)
    assert as_courier.status_code == 403
    assert Dispute.objects.count() == 0


def test_shop_lists_and_reads_its_disputes_only(delivered_job, shop_member) -> None:
    client = client_for(shop_member)
    dispute_id = _post(client, delivered_job).json()["id"]
    listed = client.get(_url(delivered_job))
    assert listed.status_code == 200
    assert [d["id"] for d in listed.json()["results"]] == [dispute_id]
    detail = client.get(f"/api/v1/disputes/{dispute_id}/")
    assert detail.status_code == 200
    assert (detail.json()["id"], detail.json()["messages"]) == (dispute_id, [])
    stranger = client_for(ShopUserFactory())
    assert stranger.get(f"/api/v1/disputes/{dispute_id}/").status_code == 404
    assert stranger.get(_url(delivered_job)).status_code == 404


def test_courier_lists_and_replies(delivered_job, shop_member, carrier) -> None:
    dispute_id = _post(client_for(shop_member), delivered_job).json()["id"]
    courier = client_for(carrier.user)
    listed = courier.get("/api/v1/courier/disputes/")
    assert [d["id"] for d in listed.json()["results"]] == [dispute_id]
    assert (
        client_for(CourierFactory().user).get("/api/v1/courier/disputes/").json()["results"] == []
    )

    reply = courier.post(
        f"/api/v1/courier/disputes/{dispute_id}/reply/",
        {"statement": "Handed over intact.", "photo": SimpleUploadedFile("p.png", PNG)},
        format="multipart",
    )
    assert reply.status_code == 200, reply.json()
    assert reply.json()["state"] == "under_review"
    assert reply.json()["photo_count"] == 1
    assert [(m["party"], m["text"]) for m in reply.json()["messages"]] == [
        ("courier", "Handed over intact.")
    ]
    again = courier.post(
        f"/api/v1/courier/disputes/{dispute_id}/reply/", {"statement": "Again."}, format="json"
    )
    assert (again.status_code, again.json()["code"]) == (409, "invalid_dispute_state")
    assert DisputeMessage.objects.count() == 1


def test_courier_reply_refusals(delivered_job, shop_member, carrier) -> None:
    dispute_id = _post(client_for(shop_member), delivered_job).json()["id"]
    url = f"/api/v1/courier/disputes/{dispute_id}/reply/"
    stranger = client_for(CourierFactory().user).post(url, {"statement": "x"}, format="json")
    assert stranger.status_code == 404
    courier = client_for(carrier.user)
    for body in ({}, {"statement": 5}, {"statement": "x" * 5001}):
        response = courier.post(url, body, format="json")
        assert (response.status_code, list(response.json()["fields"])) == (400, ["statement"])
    assert client_for(shop_member).post(url, {"statement": "x"}, format="json").status_code == 403
    assert DisputeMessage.objects.count() == 0
    assert Dispute.objects.get().state == "awaiting_courier"


def test_each_change_is_a_dispute_webhook_and_job_event(
    delivered_job, shop_member, carrier
) -> None:
    shop = shop_member.shop
    shop.webhook_url = "https://shop.example/hooks"
    shop.save(update_fields=["webhook_url"])
    dispute_id = _post(client_for(shop_member), delivered_job).json()["id"]
    client_for(carrier.user).post(
        f"/api/v1/courier/disputes/{dispute_id}/reply/", {"statement": "Fine."}, format="json"
    )
    events = JobEvent.objects.filter(job=delivered_job, kind="dispute").order_by("seq")
    assert [event.data["type"] for event in events] == ["dispute.opened", "dispute.courier_replied"]
    bodies = [json.loads(d.body) for d in WebhookDelivery.objects.order_by("created_at")]
    assert [body["type"] for body in bodies] == ["dispute.opened", "dispute.courier_replied"]
    assert bodies[1]["data"]["details"]["dispute"]["state"] == "under_review"
    assert bodies[1]["data"]["details"]["dispute"]["id"] == dispute_id


# --- A courier opens their own dispute ------------------------------------------------------

COURIER_URL = "/api/v1/courier/disputes/"


def _courier_body(job, **overrides) -> dict:
    return {
        "job_id": str(job.pk),
        "reason": "overcharged",
        "description": "The claw-back took my whole fee.",
        **overrides,
    }


def test_courier_opens_a_dispute_on_a_job_they_carried(delivered_job, shop_member, carrier) -> None:
    shop = shop_member.shop
    shop.webhook_url = "https://shop.example/hooks"
    shop.save(update_fields=["webhook_url"])
    response = client_for(carrier.user).post(
        COURIER_URL, _courier_body(delivered_job), format="json"
    )
    assert response.status_code == 201, response.json()
    dispute = Dispute.objects.get()
    body = response.json()
    assert body == {
        "id": str(dispute.pk),
        "job_id": str(delivered_job.pk),
        "opener": "courier",
        "reason": "overcharged",
        "description": "The claw-back took my whole fee.",
        "state": "open",
        "claim": {"value_minor": 0, "fee_minor": 0, "tip_minor": 0},
        "currency": "eur",
        "courier_reply_due_at": None,
        "resolution": "",
        "stripe_outcome": "",
        "photo_count": 0,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
        "resolved_at": None,
    }
    assert (dispute.opened_by, dispute.claim_total_minor) == (carrier.user, 0)
    assert list(dispute.actions.values_list("kind", "actor", "party", "amount_minor")) == [
        ("open", carrier.user.pk, "courier", 0)
    ]
    # Between the courier and the platform: the courier sees it, the shop hears nothing.
    listed = client_for(carrier.user).get(COURIER_URL).json()["results"]
    assert [d["id"] for d in listed] == [str(dispute.pk)]
    assert client_for(shop_member).get(_url(delivered_job)).json()["results"] == []
    assert JobEvent.objects.filter(job=delivered_job, kind="dispute").count() == 0
    assert WebhookDelivery.objects.count() == 0


def test_courier_opens_with_a_photo_as_multipart(delivered_job, carrier) -> None:
    response = client_for(carrier.user).post(
        COURIER_URL,
        {**_courier_body(delivered_job, reason="locker_passcode_failed"), "photo": _png()},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    assert (response.json()["reason"], response.json()["photo_count"]) == (
        "locker_passcode_failed",
        1,
    )
    assert list(DisputePhoto.objects.values_list("party", "content_type", "uploaded_by")) == [
        ("courier", "image/png", carrier.user.pk)
    ]


def test_courier_photo_must_be_an_image(delivered_job, carrier) -> None:
    response = client_for(carrier.user).post(
        COURIER_URL,
        {
            **_courier_body(delivered_job),
            "photo": SimpleUploadedFile("x.png", b"GIF89a-not-allowed", content_type="image/png"),
        },
        format="multipart",
    )
    assert (response.status_code, response.json()["code"]) == (400, "unsupported_image")
    assert list(response.json()["fields"]) == ["photo"]
    assert Dispute.objects.count() == 0


def _png() -> SimpleUploadedFile:
    return SimpleUploadedFile("p.png", PNG, content_type="image/png")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"job_id": None}, "job_id"),
        ({"job_id": "not-a-uuid"}, "job_id"),
        ({"job_id": 12}, "job_id"),
        ({"reason": "damaged"}, "reason"),
        ({"reason": "courier_conduct"}, "reason"),
        ({"reason": 3}, "reason"),
        ({"description": ""}, "description"),
        ({"description": 12}, "description"),
        ({"description": "x" * 5001}, "description"),
    ],
)
def test_courier_bad_input_is_400_naming_the_field(delivered_job, carrier, overrides, field):
    response = client_for(carrier.user).post(
        COURIER_URL, _courier_body(delivered_job, **overrides), format="json"
    )
    assert response.status_code == 400, response.json()
    assert (response.json()["code"], list(response.json()["fields"])) == (
        "validation_error",
        [field],
    )
    assert Dispute.objects.count() == 0


def test_courier_missing_fields_are_named(carrier) -> None:
    response = client_for(carrier.user).post(COURIER_URL, {}, format="json")
    assert response.status_code == 400
    assert sorted(response.json()["fields"]) == ["description", "job_id", "reason"]
    assert Dispute.objects.count() == 0


def test_courier_on_someone_elses_or_an_unknown_job_is_404(delivered_job, carrier) -> None:
    stranger = client_for(CourierFactory().user)
    theirs = stranger.post(COURIER_URL, _courier_body(delivered_job), format="json")
    unknown = client_for(carrier.user).post(
        COURIER_URL, _courier_body(delivered_job, job_id=str(uuid.uuid4())), format="json"
    )
    assert (theirs.status_code, unknown.status_code) == (404, 404)
    assert (
        theirs.json()
        == unknown.json()
        == {
            "code": "not_found",
            "message": "No such job.",
            "fields": {},
        }
    )
    as_shop = client_for(ShopUserFactory()).post(
        COURIER_URL, _courier_body(delivered_job), format="json"
    )
    assert as_shop.status_code == 403
    assert Dispute.objects.count() == 0


def test_courier_open_refusals_are_409(delivered_job, carrier) -> None:
    client = client_for(carrier.user)
    not_started = JobFactory(courier=carrier, status=JobStatus.PENDING)
    early = client.post(COURIER_URL, _courier_body(not_started), format="json")
    assert (early.status_code, early.json()["code"]) == (409, "dispute_not_allowed")

    assert client.post(COURIER_URL, _courier_body(delivered_job), format="json").status_code == 201
    again = client.post(COURIER_URL, _courier_body(delivered_job, reason="other"), format="json")
    assert (again.status_code, again.json()["code"]) == (409, "dispute_already_open")

    Dispute.objects.update(state="rejected")
    type(delivered_job).objects.filter(pk=delivered_job.pk).update(
        ended_at=timezone.now() - timedelta(days=settings.DISPUTE_WINDOW_DAYS, seconds=1)
    )
    late = client.post(COURIER_URL, _courier_body(delivered_job), format="json")
    assert (late.status_code, late.json()["code"]) == (409, "dispute_not_allowed")
    assert list(Dispute.objects.values_list("job_id", "state")) == [(delivered_job.pk, "rejected")]


def test_courier_and_shop_each_have_their_own_open_dispute(
    delivered_job, shop_member, carrier
) -> None:
    assert _post(client_for(shop_member), delivered_job).status_code == 201
    mine = client_for(carrier.user).post(COURIER_URL, _courier_body(delivered_job), format="json")
    assert mine.status_code == 201, mine.json()
    assert sorted(Dispute.objects.values_list("opener", "state")) == [
        ("courier", "open"),
        ("shop", "awaiting_courier"),
    ]
