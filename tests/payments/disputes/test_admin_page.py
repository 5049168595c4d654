"""The dispute page in the admin shows every piece of evidence, with exact values, without
leaving it; the photos behind it are served only to dispute staff, only for that dispute."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.models import JobPhoto
from jobs.photos import job_photo_store
from payments.disputes.services import dispute_open, dispute_request_info
from payments.models import JobPayment, JournalEntry, Transfer
from tests.factories import CourierFactory, JobFactory
from tests.payments.disputes.admin_helpers import (
    GEOFENCE_REASON,
    ON_THE_WAY,
    data_text,
    delivered_scene,
    image,
)
from tests.payments.disputes.conftest import staff_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(standin, zone):
    return delivered_scene(standin)


@pytest.fixture
def dispute(scene):
    return dispute_open(
        job=scene.job,
        opener="shop",
        actor=scene.shop_user,
        reason="damaged",
        description="The box arrived crushed.",
        claim_value_minor=1500,
        claim_fee_minor=300,
        claim_tip_minor=0,
        photos=[image(b"shop-photo")],
        recipient_problem=scene.problem,
    )


def open_page(client, user, dispute) -> tuple[str, dict]:
    client.force_login(user)
    response = client.get(f"/admin/payments/dispute/{dispute.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    return html, data_text(html)


def test_the_summary_and_the_proof(client, support, scene, dispute) -> None:
    _, found = open_page(client, support, dispute)
    job = scene.job

    assert found[("field", "state")] == ["awaiting_courier"]
    assert found[("field", "reason")] == ["damaged"]
    assert found[("field", "claim")] == ["value 1500, fee 300, tip 0 = 1800 eur"]
    assert found[("field", "charged")] == [f"fee {job.total_minor}, tip 150 eur"]
    assert found[("field", "external-ref")] == ["ORD-4711"]
    assert found[("field", "delivery-option")] == ["hand_to_recipient"]
    assert found[("field", "pin")] == ["verified, 1 wrong attempt"]
    assert found[("field", "recipient-name")] == ["R. Recipient"]
    assert found[("field", "geofence")] == [f"200 m, outside the geofence: {GEOFENCE_REASON}"]
    photo, signature = JobPhoto.objects.filter(job=job).order_by("created_at", "pk")
    assert (photo.kind, signature.kind) == ("delivery", "signature")
    assert found[("photo", "delivery")] == [
        f"delivery, {photo.size_bytes} bytes, {photo.created_at:%H:%M:%S}"
    ]
    assert found[("photo", "signature")] == [
        f"signature, {signature.size_bytes} bytes, {signature.created_at:%H:%M:%S}"
    ]


def test_a_locker_job_shows_its_locker_and_no_proof(client, support, zone) -> None:
    now = timezone.now()
    job = JobFactory(
        status="delivered",
        courier=CourierFactory(),
        delivery_option="locker",
        locker_id="LK-0042",
        delivered_at=now,
        ended_at=now,
    )
    dispute = dispute_open(
        job=job,
        opener="recipient",
        actor=None,
        reason="locker_passcode_failed",
        description="The code did not open the locker.",
        claim_value_minor=0,
        claim_fee_minor=100,
        claim_tip_minor=0,
    )

    _, found = open_page(client, support, dispute)

    assert found[("field", "locker-id")] == ["LK-0042"]
    assert found[("field", "pin")] == ["not_required, 0 wrong attempts"]
    assert found[("field", "no-proof")] == ["No proof of delivery on file."]


def test_the_route_map_data_and_points(client, support, scene, dispute) -> None:
    html, found = open_page(client, support, dispute)

    start = html.index('<script id="dispute-route-data" type="application/json">')
    data = json.loads(html[html.index(">", start) + 1 : html.index("</script>", start)])
    kinds = [feature["properties"]["kind"] for feature in data["features"]]
    assert kinds == ["breadcrumbs", "pickup", "dropoff", "delivery"]
    assert data["features"][0]["geometry"]["coordinates"] == [list(p) for p in ON_THE_WAY]
    assert found[("point", "pickup")] == ["pickup: 52.5219, 13.4132 (Alexanderplatz 1, Berlin)"]
    assert found[("point", "dropoff")] == ["dropoff: 52.5096, 13.376 (Potsdamer Platz 1, Berlin)"]
    assert found[("point", "delivery")] == ["delivery: 52.5114, 13.376 (200 m from the drop-off)"]
    assert found[("field", "route-summary")][0].startswith("3 breadcrumbs")
    # Leaflet and the map script come from our own static files; no tile server is named.
    assert '<div id="dispute-map" class="dispute-map" data-tile-url=""' in html
    assert "/static/leaflet/leaflet.js" in html
    assert "/static/payments/dispute_map.js" in html
    assert re.findall(r'(?:src|href)="(?:https?:)?//[^"]*"', html) == []


def test_tiles_are_named_only_when_configured(client, support, dispute, settings) -> None:
    settings.MAP_TILE_URL = "https://tiles.example.org/{z}/{x}/{y}.png"

    html, _ = open_page(client, support, dispute)

    assert 'data-tile-url="https://tiles.example.org/{z}/{x}/{y}.png"' in html


def _directives(policy: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


def test_the_page_allows_only_this_server_then_the_tile_server_when_set(
    client, support, dispute, settings
) -> None:
    client.force_login(support)
    page = f"/admin/payments/dispute/{dispute.pk}/change/"
    assert _directives(client.get(page)["Content-Security-Policy"]) == {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "connect-src": "'self'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    # A refused action renders the page again, under the same policy.
    refused = client.post(f"/admin/payments/dispute/{dispute.pk}/act/reject/", {})
    assert refused.status_code == 200
    assert _directives(refused["Content-Security-Policy"])["script-src"] == "'self'"

    settings.MAP_TILE_URL = "https://{s}.tiles.example.org/{z}/{x}/{y}.png"
    assert _directives(client.get(page)["Content-Security-Policy"])["img-src"] == (
        "'self' data: https://a.tiles.example.org https://*.tiles.example.org"
    )


def test_the_timeline_says_who_when_and_where(client, support, scene, dispute) -> None:
    _, found = open_page(client, support, dispute)
    shop = scene.shop_user.username
    courier = scene.courier.user.username
    events = {event.seq: event for event in scene.job.events.all()}

    assert found[("field", "who")] == [
        f"shop {shop}",
        "recipient",
        *[f"courier {courier}"] * 5,
        "recipient",  # the problem report
        "recipient",  # the rating
    ]
    assert found[("field", "where")] == [
        "-",
        "-",
        "-",
        "52.5219, 13.4132",
        "52.5219, 13.4132",
        "52.5114, 13.376",
        "52.5114, 13.376",
        "-",
        "-",
    ]
    assert found[("seq", "5")] == [
        f"5 {events[5].created_at:%Y-%m-%d %H:%M:%S} at_pickup → picked_up "
        f"courier {courier} 52.5219, 13.4132"
    ]
    assert found[("seq", "2")] == [
        f"2 {events[2].created_at:%Y-%m-%d %H:%M:%S} Recipient instructions updated recipient -"
    ]


def test_the_recipients_side(client, support, scene, dispute) -> None:
    _, found = open_page(client, support, dispute)

    assert found[("field", "instructions")] == ["Ring twice, third floor"]
    assert found[("field", "rating")] == ["2/5 Box damaged"]
    choices = found[("kind", "instructions_updated")][0]
    assert choices.endswith("Recipient instructions updated instructions=Ring twice, third floor")
    assert found[("problem", str(scene.problem.pk))] == [
        f"{scene.problem.created_at:%Y-%m-%d %H:%M:%S}: damaged (delivered) "
        "The box was crushed ← this dispute"
    ]


def test_each_partys_messages_and_photos(client, support, scene, dispute) -> None:
    dispute_request_info(
        dispute=dispute,
        actor=support,
        party="shop",
        message="Please send a photo of the label.",
        idempotency_key="test:ask-shop",
    )
    shop_photo = dispute.photos.get()

    _, found = open_page(client, support, dispute)

    assert found[("party", "shop")] == ["Shop (opened the dispute) The box arrived crushed."]
    assert found[("photo", str(shop_photo.pk))] == [""]
    (staff,) = found[("party", "staff")]
    assert staff.startswith(f"Staff {dispute.messages.get().created_at:%Y-%m-%d %H:%M:%S} · ")
    assert staff.endswith(f"{support.username} · to shop Please send a photo of the label.")


def test_the_money_ledger_and_stripe_ids(client, support, scene, dispute) -> None:
    _, found = open_page(client, support, dispute)
    job = scene.job
    payment = JobPayment.objects.get(job_id=job.pk)
    transfer = Transfer.objects.get(job_id=job.pk)
    amount = job.total_minor + 150

    assert found[("field", "captured")] == [str(amount)]
    for stripe_id in (payment.intent_id, payment.charge_id, transfer.stripe_transfer_id):
        assert found[("stripe-id", stripe_id)] == [stripe_id]
    capture = JournalEntry.objects.get(job_id=job.pk, kind="capture")
    payout = job.courier_payout_minor + 150
    assert found[("entry", capture.idempotency_key)] == [
        f"{capture.idempotency_key} {capture.created_at:%Y-%m-%d %H:%M:%S} capture "
        f"{payment.charge_id} stripe_clearing {amount} eur",
        f"platform_revenue -{job.platform_fee_minor} eur",
        f"courier_payable:{scene.courier.pk} -{payout} eur",
    ]
    assert found[("field", "ledger-balanced")] == ["(every entry balances)"]


def test_the_couriers_record(client, support, scene, dispute) -> None:
    JobFactory(status="returned", courier=scene.courier)

    _, found = open_page(client, support, dispute)

    assert found[("field", "courier-name")][0].startswith(f"Mia Lang (#{scene.courier.pk}, bike")
    assert found[("field", "courier-deliveries")] == ["1 delivered, 1 returned, 2 jobs"]
    # The recipient's problem report opened one; the shop opened the other.
    assert found[("field", "courier-disputes")] == ["2"]
    assert found[("field", "courier-rating")] == ["2.00 from 1 rating; accepts 1.00 of offers"]


def test_the_page_query_count_is_bounded(client, support, scene, dispute) -> None:
    client.force_login(support)
    url = f"/admin/payments/dispute/{dispute.pk}/change/"
    dispute_request_info(
        dispute=dispute,
        actor=support,
        party="courier",
        message="First question",
        idempotency_key="test:ask-first",
    )
    client.get(url)
    with CaptureQueriesContext(connection) as first:
        client.get(url)
    for number in range(3):
        dispute_request_info(
            dispute=dispute,
            actor=support,
            party="courier",
            message=f"Question {number}",
            idempotency_key=f"test:ask-{number}",
        )
    with CaptureQueriesContext(connection) as second:
        client.get(url)

    assert len(second) == len(first)


def test_photos_are_served_to_dispute_staff_for_this_dispute_only(
    client, support, scene, dispute
) -> None:
    photo = JobPhoto.objects.filter(job=scene.job, kind="delivery").get()
    shop_photo = dispute.photos.get()
    other = job_photo_store(job=JobFactory(), image=image(), kind="delivery", actor=support)
    base = f"/admin/payments/dispute/{dispute.pk}/photo"

    client.force_login(support)
    served = client.get(f"{base}/job/{photo.pk}/")
    dispute_photo = client.get(f"{base}/dispute/{shop_photo.pk}/")
    wrong_source = client.get(f"{base}/dispute/{photo.pk}/")
    other_job = client.get(f"{base}/job/{other.pk}/")
    client.force_login(staff_in(None))
    refused = client.get(f"{base}/job/{photo.pk}/")

    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert served.content == bytes(photo.data)
    assert dispute_photo.content == bytes(shop_photo.data)
    assert wrong_source.status_code == 404
    assert refused.status_code == 403
    assert other_job.status_code == 404
