"""End to end through the stand-in: a real server and worker, signed webhooks over HTTP.

The stand-in posts its events to the running server's two Stripe endpoints, which verify
and store them; the worker handles them and runs the money commands against the stand-in.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from django.conf import settings

from jobs.models import JobStatus, ServiceZone
from payments.models import JobPayment, StripeEvent, Transfer
from payments.standin import StandinServer
from tests.e2e_server import running_server
from tests.factories import ShopUserFactory
from tests.jobs.conftest import trip_body
from tests.jobs.dispatch_helpers import courier_at
from tests.payments.helpers import differences, every_entry_balances, standin_objects, walk
from tests.workers import running_cluster, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _api(base: str, token: str, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(
        method,
        f"{base}/api/v1/{path}",
        json=body,
        headers={"Authorization": f"Token {token}"},
        timeout=15,
    )


def test_a_delivered_job_settles_through_the_standin_and_its_webhooks(
    standin: StandinServer, zone: ServiceZone
) -> None:
    # Online beside the pickup: the worker's first pass offers the job to this courier and
    # it stays pending, whichever of that pass and the walk below comes first (with no one
    # in reach the pass would make it unassigned before the walk could assign it).
    shop, courier = ShopUserFactory(), courier_at(100)
    shop_token, courier_token = shop.auth_token.key, courier.user.auth_token.key
    with (
        running_server(
            database=settings.DATABASES["default"], max_body_bytes=settings.MAX_REQUEST_BODY_BYTES
        ) as server,
        running_cluster(),
    ):
        base = f"http://{server.host}:{server.port}"
        standin.add_endpoint(
            f"{base}/api/v1/payments/stripe/webhook/", settings.STRIPE_WEBHOOK_SECRET, connect=False
        )
        standin.add_endpoint(
            f"{base}/api/v1/payments/stripe/connect-webhook/",
            settings.STRIPE_CONNECT_WEBHOOK_SECRET,
            connect=True,
        )

        card = _api(
            base,
            shop_token,
            "PUT",
            "payments/shop/payment-method/",
            {"payment_method": "pm_card_visa"},
        )
        assert card.status_code == 200, card.text

        # The courier opens the onboarding link; only the account.updated webhook tells us.
        link = _api(base, courier_token, "POST", "courier/payouts/onboarding/")
        assert link.status_code == 200, link.text
        assert link.json()["account"]["payouts_enabled"] is False
        opened = requests.get(link.json()["url"], allow_redirects=False, timeout=10)
        assert opened.status_code == 302
        assert wait_for(
            lambda: (
                _api(base, courier_token, "GET", "courier/payouts/").json()["account"] or {}
            ).get("payouts_enabled"),
            30,
        ), standin.deliverer.records

        posted = _api(base, shop_token, "POST", "jobs/", trip_body())
        assert posted.status_code == 201, posted.text
        job_id = posted.json()["id"]
        amount = posted.json()["payment"]["authorised_minor"]
        walk(job_id, JobStatus.DELIVERED, courier=courier)

        assert wait_for(
            lambda: Transfer.objects.filter(job_id=job_id, state="paid").exists(), 60
        ), list(Transfer.objects.values())
        assert standin.wait_for_webhooks(30)
        assert wait_for(
            lambda: not StripeEvent.objects.filter(processed_at__isnull=True).exists(), 30
        ), list(StripeEvent.objects.filter(processed_at__isnull=True).values("type"))

    payment = JobPayment.objects.get(job_id=job_id)
    assert (payment.status, payment.captured_minor) == ("captured", amount)
    (charge,) = standin_objects(standin, "charge")
    assert (charge["id"], charge["amount_captured"]) == (payment.charge_id, amount)
    (transfer,) = standin_objects(standin, "transfer")
    assert transfer["source_transaction"] == payment.charge_id
    assert transfer["transfer_group"] == f"job_{job_id}"
    stored = set(StripeEvent.objects.values_list("type", "connect"))
    assert {
        ("account.updated", True),
        ("payment_intent.amount_capturable_updated", False),
        ("charge.captured", False),
        ("payment_intent.succeeded", False),
        ("transfer.created", False),
    } <= stored
    assert not StripeEvent.objects.exclude(processing_error="").exists()
    records = standin.deliverer.records
    assert records
    assert {record["status"] for record in records} == {"delivered"}
    assert every_entry_balances()
    assert differences() == []
