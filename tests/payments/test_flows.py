"""A job's money over HTTP, per outcome: authorise on post, capture, cancel, return, tip,
transfer; each against the stand-in, with the ledger balanced and reconciliation clean."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Job, JobStatus
from payments.models import JobPayment, JournalEntry, MoneyCommand, Tip, Transfer
from tests.conftest import client_for
from tests.factories import CourierFactory, ShopUserFactory
from tests.payments.helpers import (
    balances,
    courier_with_payouts,
    differences,
    drain,
    every_entry_balances,
    fee,
    post_job,
    standin_objects,
    walk,
)

pytestmark = pytest.mark.django_db
S = JobStatus


@pytest.fixture
def shop(standin, zone):
    return ShopUserFactory()


def _payment(response) -> dict:
    return response.json()["payment"]


def test_delivered_with_tip_captures_all_and_pays_the_courier(standin, shop) -> None:
    client = client_for(shop)
    courier = CourierFactory()
    account_id = courier_with_payouts(courier, standin)

    response = post_job(client, tip_minor=150)
    assert response.status_code == 201, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    amount = job.total_minor + 150
    assert _payment(response) == {
        "status": "authorised",
        "authorised_minor": amount,
        "captured_minor": 0,
        "refunded_minor": 0,
        "currency": "eur",
    }
    (intent,) = standin_objects(standin, "payment_intent")
    assert (intent["status"], intent["amount_capturable"]) == ("requires_capture", amount)
    assert intent["transfer_group"] == f"job_{job.pk}"

    walk(job, S.DELIVERED, courier=courier)
    drain()

    payment = JobPayment.objects.get(job_id=job.pk)
    assert (payment.status, payment.captured_minor) == ("captured", amount)
    share = job.courier_payout_minor + 150
    (transfer,) = standin_objects(standin, "transfer")
    assert (transfer["amount"], transfer["destination"]) == (share, account_id)
    assert transfer["source_transaction"] == payment.charge_id
    assert balances() == {
        "stripe_clearing": amount - fee(amount) - share,
        "platform_revenue": -job.platform_fee_minor,
        "stripe_fees": fee(amount),
    }

    tip = client.post(f"/api/v1/jobs/{job.pk}/tip/", {"amount_minor": 200}, format="json")
    assert tip.status_code == 201, tip.json()
    assert tip.json() == {
        "job_id": str(job.pk),
        "amount_minor": 200,
        "currency": "eur",
        "status": "succeeded",
    }
    drain()
    assert sorted(t["amount"] for t in standin_objects(standin, "transfer")) == sorted([share, 200])
    assert Transfer.objects.filter(job_id=job.pk, state="paid").count() == 2
    assert balances() == {
        "stripe_clearing": amount - fee(amount) - share - fee(200),
        "platform_revenue": -job.platform_fee_minor,
        "stripe_fees": fee(amount) + fee(200),
    }
    again = client.post(f"/api/v1/jobs/{job.pk}/tip/", {"amount_minor": 200}, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "tip_not_allowed"
    assert len(standin_objects(standin, "payment_intent")) == 2
    assert every_entry_balances()
    assert differences() == []
    detail = client.get(f"/api/v1/jobs/{job.pk}/")
    assert _payment(detail)["captured_minor"] == amount


def test_cancelled_free_cancels_the_authorisation(standin, shop) -> None:
    client = client_for(shop)
    job_id = post_job(client).json()["id"]

    response = client.post(
        f"/api/v1/jobs/{job_id}/cancel/", {"reason": "changed mind"}, format="json"
    )
    assert response.status_code == 200
    drain()

    (intent,) = standin_objects(standin, "payment_intent")
    assert intent["status"] == "canceled"
    assert JobPayment.objects.get(job_id=job_id).status == "canceled"
    assert JournalEntry.objects.count() == 0
    assert differences() == []


def test_cancelled_with_fee_captures_only_the_fee_and_the_courier_gets_it(
    standin, shop, zone
) -> None:
    client = client_for(shop)
    courier = CourierFactory()
    courier_with_payouts(courier, standin)
    job_id = post_job(client).json()["id"]
    walk(job_id, S.AT_PICKUP, courier=courier)

    response = client.post(f"/api/v1/jobs/{job_id}/cancel/", {"reason": "late"}, format="json")
    assert response.status_code == 200
    drain()

    fee_minor = zone.cancellation_fee_minor
    (intent,) = standin_objects(standin, "payment_intent")
    assert (intent["status"], intent["amount_received"]) == ("succeeded", fee_minor)
    (transfer,) = standin_objects(standin, "transfer")
    assert transfer["amount"] == fee_minor  # CANCELLATION_COURIER_SHARE_PERCENT = 100
    assert balances() == {
        "stripe_clearing": fee_minor - fee(fee_minor) - fee_minor,
        "stripe_fees": fee(fee_minor),
    }
    assert differences() == []


def test_cancellation_fee_share_follows_the_setting(standin, shop, zone, settings) -> None:
    settings.CANCELLATION_COURIER_SHARE_PERCENT = 40
    client = client_for(shop)
    courier = CourierFactory()
    job_id = post_job(client).json()["id"]
    walk(job_id, S.AT_PICKUP, courier=courier)
    client.post(f"/api/v1/jobs/{job_id}/cancel/", {"reason": "late"}, format="json")
    drain()

    fee_minor = zone.cancellation_fee_minor
    assert balances()["platform_revenue"] == -(fee_minor - fee_minor * 40 // 100)
    assert balances()[f"courier_payable:{courier.pk}"] == -(fee_minor * 40 // 100)
    # No payout account yet: owed and held, nothing sent.
    assert Transfer.objects.get(job_id=job_id).state == "held"
    assert standin_objects(standin, "transfer") == []
    assert differences() == []


def test_failed_and_returned_charges_the_zones_return_fee(standin, shop, zone) -> None:
    zone.return_fee_percent = 50
    zone.save()
    client = client_for(shop)
    courier = CourierFactory()
    courier_with_payouts(courier, standin)
    job_id = post_job(client).json()["id"]
    job = walk(job_id, S.RETURNED, courier=courier)
    drain()

    charged = (job.total_minor + 1) // 2
    courier_share = (job.courier_payout_minor + 1) // 2
    payment = JobPayment.objects.get(job_id=job_id)
    assert (payment.status, payment.captured_minor) == ("captured", charged)
    (transfer,) = standin_objects(standin, "transfer")
    assert transfer["amount"] == courier_share
    assert balances()["platform_revenue"] == -(charged - courier_share)
    assert every_entry_balances()
    assert differences() == []


@pytest.mark.parametrize(
    ("card", "code"),
    [
        ("pm_card_chargeCustomerFail", "payment_declined"),
        ("pm_card_authenticationRequired", "payment_authentication_required"),
    ],
)
def test_a_refused_card_posts_nothing_and_leaves_nothing(standin, zone, card, code) -> None:
    shop = ShopUserFactory(shop__payment_method=card)
    response = post_job(client_for(shop))

    assert response.status_code == 402
    assert response.json()["code"] == code
    assert Job.objects.count() == 0
    assert JobPayment.objects.count() == 0
    assert MoneyCommand.objects.count() == 0
    assert [
        i["status"]
        for i in standin_objects(standin, "payment_intent")
        if i["status"] == "requires_capture"
    ] == []


def test_posting_without_a_payment_method_is_402(standin, zone) -> None:
    shop = ShopUserFactory(shop__payment_method=False)
    response = post_job(client_for(shop))

    assert response.status_code == 402
    assert response.json()["code"] == "payment_method_required"
    assert Job.objects.count() == 0
    assert standin_objects(standin, "payment_intent") == []


def test_a_late_tip_is_refused_and_charges_nothing(standin, shop) -> None:
    client = client_for(shop)
    courier = CourierFactory()
    job_id = post_job(client).json()["id"]
    walk(job_id, S.DELIVERED, courier=courier)
    drain()
    Job.objects.filter(pk=job_id).update(delivered_at=timezone.now() - timedelta(days=8))

    response = client.post(f"/api/v1/jobs/{job_id}/tip/", {"amount_minor": 300}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "tip_not_allowed"
    assert Tip.objects.count() == 0
    assert len(standin_objects(standin, "payment_intent")) == 1


def test_courier_without_payouts_accrues_then_is_paid_when_enabled(standin, shop) -> None:
    client = client_for(shop)
    courier = CourierFactory()
    account_id = courier_with_payouts(courier, standin, enabled=False)
    job_id = post_job(client).json()["id"]
    job = walk(job_id, S.DELIVERED, courier=courier)
    drain()

    assert Transfer.objects.get(job_id=job_id).state == "held"
    assert standin_objects(standin, "transfer") == []
    assert balances()[f"courier_payable:{courier.pk}"] == -job.courier_payout_minor
    earnings = client_for(courier.user).get("/api/v1/courier/earnings/").json()
    assert earnings["owed"] == {"eur": job.courier_payout_minor}
    assert earnings["jobs"][0]["transfers"][0]["state"] == "held"

    courier_with_payouts(courier, standin)
    drain()

    (transfer,) = standin_objects(standin, "transfer")
    assert (transfer["amount"], transfer["destination"]) == (job.courier_payout_minor, account_id)
    assert f"courier_payable:{courier.pk}" not in balances()
    payouts = client_for(courier.user).get("/api/v1/courier/payouts/").json()
    assert payouts["account"]["payouts_enabled"] is True
    assert payouts["transfers"][0]["state"] == "paid"
    assert differences() == []


def test_a_card_declined_when_attached_is_a_400_and_nothing_saved(standin, zone) -> None:
    shop = ShopUserFactory(shop__payment_method=False)
    client = client_for(shop)

    response = client.put(
        "/api/v1/payments/shop/payment-method/",
        {"payment_method": "pm_card_chargeDeclined"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_payment_method"
    assert client.get("/api/v1/payments/shop/payment-method/").json()["payment_method"] is None


def test_shop_sets_and_reads_its_card_and_gets_a_setup_intent(standin, zone) -> None:
    shop = ShopUserFactory(shop__payment_method=False)
    client = client_for(shop)

    setup = client.post("/api/v1/payments/shop/setup-intent/")
    put = client.put(
        "/api/v1/payments/shop/payment-method/",
        {"payment_method": "pm_card_mastercard"},
        format="json",
    )
    got = client.get("/api/v1/payments/shop/payment-method/")

    assert setup.status_code == 201
    assert setup.json()["client_secret"].startswith(setup.json()["setup_intent_id"])
    assert put.status_code == 200
    assert got.json()["brand"] == "mastercard"
    assert got.json()["last4"] == "4444"
    assert got.json()["customer_id"] == setup.json()["customer_id"]
    assert post_job(client).status_code == 201


def test_a_job_scheduled_beyond_the_hold_window_is_authorised_at_release(
    standin, shop, zone
) -> None:
    from jobs.posting import jobs_release_due

    client = client_for(shop)
    pickup_after = timezone.now() + timedelta(days=6)
    response = post_job(client, pickup_after=pickup_after.isoformat())
    assert response.status_code == 201, response.json()
    job_id = response.json()["id"]
    assert _payment(response)["status"] == "awaiting_authorisation"
    assert standin_objects(standin, "payment_intent") == []

    released = jobs_release_due(now=pickup_after)

    assert released == [job_id]
    assert JobPayment.objects.get(job_id=job_id).status == "authorised"
    (intent,) = standin_objects(standin, "payment_intent")
    assert intent["status"] == "requires_capture"


def test_a_decline_at_release_cancels_the_job(standin, zone) -> None:
    from jobs.posting import jobs_release_due
    from payments.billing import shop_payment_method_set

    shop = ShopUserFactory()
    pickup_after = timezone.now() + timedelta(days=6)
    job_id = post_job(client_for(shop), pickup_after=pickup_after.isoformat()).json()["id"]
    shop_payment_method_set(
        shop=shop.shop, actor=shop, payment_method_id="pm_card_chargeCustomerFail"
    )

    assert jobs_release_due(now=pickup_after) == []

    job = Job.objects.get(pk=job_id)
    assert job.status == S.CANCELLED
    event = job.events.order_by("-seq").first()
    assert (event.reason, event.to_status) == ("payment_declined", "cancelled")
    assert JobPayment.objects.get(job_id=job_id).status == "declined"


def test_a_tip_below_stripes_minimum_charge_is_a_400_and_charges_nothing(standin, shop) -> None:
    client = client_for(shop)
    job_id = post_job(client).json()["id"]
    walk(job_id, S.DELIVERED, courier=CourierFactory())
    drain()

    response = client.post(f"/api/v1/jobs/{job_id}/tip/", {"amount_minor": 49}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert list(response.json()["fields"]) == ["amount_minor"]
    assert Tip.objects.count() == 0
    assert len(standin_objects(standin, "payment_intent")) == 1
