"""The evidence staff see on a dispute page, gathered for a job by payments.disputes.evidence:
the timeline, the route between pickup and delivery, the proof, the recipient's side, the
money with its ledger and Stripe ids, and the courier's record, in a fixed number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from django.test.utils import CaptureQueriesContext

from couriers.models import LocationPing
from jobs.models import DeliveryOption, Job
from jobs.tracking.services import recipient_problem_report
from payments.disputes.evidence import job_evidence, job_route
from payments.models import JobPayment, Tip, Transfer
from tests.factories import CourierFactory, JobFactory
from tests.payments.disputes.admin_helpers import ON_THE_WAY, delivered_scene

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(standin, zone):
    return delivered_scene(standin)


def test_the_timeline_says_who_when_and_where(scene) -> None:
    evidence = job_evidence(job=scene.job)
    courier = scene.courier.user.username
    shop = scene.shop_user.username

    assert [(e.seq, e.kind, e.from_status, e.to_status, e.who) for e in evidence.timeline] == [
        (1, "status", "", "pending", f"shop {shop}"),
        (2, "instructions_updated", "pending", "pending", "recipient"),
        (3, "status", "pending", "assigned", f"courier {courier}"),
        (4, "status", "assigned", "at_pickup", f"courier {courier}"),
        (5, "status", "at_pickup", "picked_up", f"courier {courier}"),
        (6, "status", "picked_up", "at_dropoff", f"courier {courier}"),
        (7, "status", "at_dropoff", "delivered", f"courier {courier}"),
        (8, "problem_reported", "delivered", "delivered", "recipient"),
        (9, "rated", "delivered", "delivered", "recipient"),
    ]
    by_seq = {entry.seq: entry for entry in evidence.timeline}
    assert by_seq[5].position == {"lat": 52.5219, "lng": 13.4132}
    assert by_seq[7].position == {"lat": 52.5114, "lng": 13.376}
    assert by_seq[2].position is None
    assert by_seq[7].data["distance_to_dropoff_m"] == 200
    assert [e.created_at for e in evidence.timeline] == sorted(
        e.created_at for e in evidence.timeline
    )


def test_the_route_is_the_breadcrumbs_between_pickup_and_delivery_with_the_points(scene) -> None:
    route = job_evidence(job=scene.job).route

    # The fix before pickup and the one after delivery are left out.
    assert LocationPing.objects.filter(courier=scene.courier).count() == 5
    assert route.ping_count == 3
    assert route.line == [list(point) for point in ON_THE_WAY]
    assert (route.started_at, route.ended_at) == (scene.job.picked_up_at, scene.job.delivered_at)
    features = route.geojson["features"]
    assert [f["properties"]["kind"] for f in features] == [
        "breadcrumbs",
        "pickup",
        "dropoff",
        "delivery",
    ]
    assert features[0]["geometry"]["type"] == "LineString"
    assert features[0]["properties"]["count"] == 3
    assert features[1]["geometry"]["coordinates"] == [13.4132, 52.5219]
    assert features[1]["properties"]["address"] == "Alexanderplatz 1, Berlin"
    assert features[2]["geometry"]["coordinates"] == [13.376, 52.5096]
    assert features[3]["geometry"]["coordinates"] == [13.376, 52.5114]
    assert features[3]["properties"]["distance_m"] == 200


def test_a_long_route_is_thinned_but_keeps_its_ends_and_count(scene, settings) -> None:
    start = scene.job.picked_up_at
    LocationPing.objects.bulk_create(
        LocationPing(
            courier=scene.courier,
            point=Point(13.40 - i * 0.00001, 52.52, srid=4326),
            recorded_at=start + timedelta(microseconds=i + 1),
            received_at=start,
        )
        for i in range(2500)
    )

    route = job_route(job=scene.job, proof=None)

    assert route.ping_count == 2503
    assert len(route.line) == 2000
    assert route.line[0] == [13.40 - 0.00001 * 0, 52.52]
    assert route.line[-1] == list(ON_THE_WAY[-1])


def test_a_job_without_a_courier_has_only_its_points() -> None:
    job = JobFactory()

    route = job_route(job=job, proof=None)

    assert route.ping_count == 0
    assert [f["properties"]["kind"] for f in route.geojson["features"]] == ["pickup", "dropoff"]
    assert job_evidence(job=job).courier is None


def test_the_proof_has_the_pin_attempts_photos_signature_and_geofence(scene) -> None:
    proof = job_evidence(job=scene.job).proof

    assert (proof.pin_required, proof.pin_result, proof.pin_failed_attempts) == (
        True,
        "verified",
        1,
    )
    assert proof.is_pin_locked is False
    assert proof.proof.recipient_name == "R. Recipient"
    assert proof.proof.distance_to_dropoff_m == 200
    assert proof.proof.is_outside_geofence is True
    assert proof.proof.geofence_reason == "Entrance is round the corner"
    assert [photo.kind for photo in proof.photos] == ["delivery", "signature"]
    assert proof.delivery_photo.pk == proof.proof.photo_id
    assert proof.signature.pk == proof.proof.signature_id
    # The bytes stay in the database until a photo is asked for.
    assert all(photo.get_deferred_fields() == {"data"} for photo in proof.photos)


def test_a_locker_delivery_shows_the_locker_id() -> None:
    job = JobFactory(delivery_option=DeliveryOption.LOCKER, locker_id="LK-0042")

    proof = job_evidence(job=job).proof

    assert (proof.delivery_option, proof.locker_id, proof.pin_result) == (
        "locker",
        "LK-0042",
        "not_required",
    )
    assert proof.proof is None
    assert proof.photos == []


def test_the_recipient_side_has_the_choices_problem_and_rating(scene) -> None:
    recipient = job_evidence(job=scene.job).recipient

    assert recipient.name == "Robin Recipient"
    assert recipient.instructions == "Ring twice, third floor"
    assert recipient.delivery_option == "hand_to_recipient"
    assert [(c.kind, c.data) for c in recipient.choices] == [
        ("instructions_updated", {"instructions": "Ring twice, third floor"}),
        (
            "problem_reported",
            {"problem_id": scene.problem.pk, "reason": "damaged", "text": "The box was crushed"},
        ),
        ("rated", {"stars": 2, "comment": "Box damaged"}),
    ]
    assert [(p.reason, p.text, p.job_status) for p in recipient.problems] == [
        ("damaged", "The box was crushed", "delivered")
    ]
    assert (recipient.rating.stars, recipient.rating.comment) == (2, "Box damaged")


def test_the_money_has_the_payment_ledger_and_stripe_ids(scene) -> None:
    job = scene.job
    money = job_evidence(job=job).money
    payment = JobPayment.objects.get(job_id=job.pk)
    transfers = list(Transfer.objects.filter(job_id=job.pk).order_by("created_at", "pk"))

    assert money.payment == payment
    assert (payment.status, payment.captured_minor) == ("captured", job.total_minor + 150)
    assert money.tip is None
    assert Tip.objects.count() == 0
    assert [t.kind for t in money.transfers] == ["payout"]
    assert [e.entry.kind for e in money.entries] == ["capture", "stripe_fee", "transfer"]
    capture = money.entries[0]
    assert sorted((line.account.code, line.amount_minor) for line in capture.lines) == sorted(
        [
            ("stripe_clearing", job.total_minor + 150),
            ("platform_revenue", -job.platform_fee_minor),
            (f"courier_payable:{scene.courier.pk}", -(job.courier_payout_minor + 150)),
        ]
    )
    assert all(view.totals == {"eur": 0} for view in money.entries)
    assert money.is_balanced
    assert [c.kind for c in money.commands] == ["capture", "transfer"]
    ids = dict((stripe_id, what) for what, stripe_id in money.stripe_ids)
    assert ids[payment.intent_id] == "payment intent"
    assert ids[payment.charge_id] == "charge"
    assert ids[payment.customer_id] == "customer"
    assert ids[transfers[0].stripe_transfer_id] == "transfer (payout)"
    assert payment.intent_id.startswith("pi_")
    assert payment.charge_id.startswith("ch_")
    assert len(ids) == len(money.stripe_ids)  # each id once


def test_the_courier_record_counts_their_jobs_and_rating(scene) -> None:
    other = JobFactory(status="returned", courier=scene.courier)
    assert other.courier_id == scene.courier.pk

    record = job_evidence(job=scene.job).courier

    assert record.courier == scene.courier
    assert (record.jobs_total, record.delivered, record.returned) == (2, 1, 1)
    assert (str(record.rating), record.rating_count) == ("2.00", 1)


def _queries(job: Job) -> int:
    job = Job.objects.select_related("courier__user").get(pk=job.pk)
    with CaptureQueriesContext(connection) as captured:
        job_evidence(job=job)
    return len(captured)


def test_the_query_count_does_not_grow_with_the_evidence(scene) -> None:
    before = _queries(scene.job)
    start = scene.job.picked_up_at
    LocationPing.objects.bulk_create(
        LocationPing(
            courier=scene.courier,
            point=Point(13.39, 52.515, srid=4326),
            recorded_at=start + timedelta(milliseconds=i + 1),
            received_at=start,
        )
        for i in range(20)
    )
    for text in ("Lid torn", "Wet", "Dented"):
        recipient_problem_report(job=scene.job, reason="damaged", text=text)
    CourierFactory()

    after = _queries(scene.job)

    assert before == 13
    assert after == before
