"""Random job lifecycles (hypothesis) against the stand-in; after every step the books hold:
every entry balances, Stripe captured what the shops owe, each courier's payable plus what
was transferred equals their earnings, platform revenue equals its fees, and reconciliation
finds no difference."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.lifecycle import job_transition
from jobs.models import Job, JobStatus, ServiceZone
from payments.flows import percent_of
from payments.gateway import get_gateway
from payments.models import CourierPayoutAccount
from payments.payouts import payout_account_sync
from tests.conftest import client_for
from tests.factories import CourierFactory, ShopUserFactory
from tests.payments.helpers import (
    balances,
    courier_with_payouts,
    differences,
    drain,
    every_entry_balances,
    post_job,
    standin_objects,
)

pytestmark = pytest.mark.django_db
S = JobStatus
PATHS = {
    "delivered": [S.ASSIGNED, S.AT_PICKUP, S.PICKED_UP, S.AT_DROPOFF, S.DELIVERED],
    "cancel_free": [S.ASSIGNED, "cancel"],
    "cancel_fee": [S.ASSIGNED, S.AT_PICKUP, "cancel"],
    "returned": [S.ASSIGNED, S.AT_PICKUP, S.PICKED_UP, S.FAILED, S.RETURNING, S.RETURNED],
}


class Books:
    """What the shops owe, each courier earned and the platform kept: computed from the
    outcomes alone, never from the ledger."""

    def __init__(self) -> None:
        self.shops_owe = 0
        self.platform = 0
        self.couriers: dict[int, int] = defaultdict(int)

    def settle(self, job: Job, outcome: str, zone: ServiceZone) -> None:
        if outcome == "delivered":
            charged, share = (
                job.total_minor + job.tip_minor,
                job.courier_payout_minor + job.tip_minor,
            )
        elif outcome == "cancel_fee":
            charged = zone.cancellation_fee_minor
            share = charged  # CANCELLATION_COURIER_SHARE_PERCENT = 100
        elif outcome == "returned":
            charged = percent_of(job.total_minor, zone.return_fee_percent)
            share = min(percent_of(job.courier_payout_minor, zone.return_fee_percent), charged)
        else:
            charged = share = 0
        self.shops_owe += charged
        self.platform += charged - share
        self.couriers[job.courier_id] += share

    def tip(self, job: Job, amount: int) -> None:
        self.shops_owe += amount
        self.couriers[job.courier_id] += amount


def check(books: Books, standin) -> None:
    drain()
    assert every_entry_balances()
    captured = sum(charge["amount_captured"] for charge in standin_objects(standin, "charge"))
    assert captured == books.shops_owe
    now = balances()
    assert -now.get("platform_revenue", 0) == books.platform
    accounts = dict(CourierPayoutAccount.objects.values_list("courier_id", "account_id"))
    transfers = standin_objects(standin, "transfer")
    for courier_id, earned in books.couriers.items():
        transferred = sum(
            t["amount"] for t in transfers if t["destination"] == accounts.get(courier_id)
        )
        assert -now.get(f"courier_payable:{courier_id}", 0) + transferred == earned
    assert differences() == []


@pytest.fixture
def books() -> Books:
    return Books()


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    outcome=st.sampled_from(sorted(PATHS)),
    tip=st.integers(min_value=0, max_value=300),
    late_tip=st.one_of(st.just(0), st.integers(min_value=50, max_value=400)),
    return_percent=st.integers(min_value=0, max_value=100),
    payouts=st.sampled_from(["before", "after", "never"]),
)
def test_random_lifecycles_keep_the_books(
    standin, zone, books, outcome, tip, late_tip, return_percent, payouts
) -> None:
    zone.return_fee_percent = Decimal(return_percent)
    zone.save(update_fields=["return_fee_percent"])
    shop = ShopUserFactory()
    client = client_for(shop)
    courier = CourierFactory()
    if payouts == "before":
        courier_with_payouts(courier, standin)
    elif payouts == "after":
        account_id = courier_with_payouts(courier, standin, enabled=False)

    response = post_job(client, tip_minor=tip)
    assert response.status_code == 201, response.json()
    job_id = response.json()["id"]
    check(books, standin)
    for step in PATHS[outcome]:
        if step == "cancel":
            assert (
                client.post(
                    f"/api/v1/jobs/{job_id}/cancel/", {"reason": "x"}, format="json"
                ).status_code
                == 200
            )
        else:
            job_transition(job=job_id, to=step, actor=None, courier=courier)
        if Job.objects.get(pk=job_id).status in {S.DELIVERED, S.CANCELLED, S.RETURNED}:
            books.settle(Job.objects.get(pk=job_id), outcome, zone)
        check(books, standin)
    if outcome == "delivered" and late_tip:
        answer = client.post(
            f"/api/v1/jobs/{job_id}/tip/", {"amount_minor": late_tip}, format="json"
        )
        assert answer.status_code == 201, answer.json()
        books.tip(Job.objects.get(pk=job_id), late_tip)
        check(books, standin)
    if payouts == "after":
        url = f"{standin.base_url}/_standin/accounts/{account_id}/onboard"
        requests.post(url, timeout=5).raise_for_status()
        payout_account_sync(result=get_gateway().account_retrieve(account_id=account_id))
        check(books, standin)
