"""Disputes fixtures: a delivered job with a courier, and staff in each dispute group."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from couriers.models import Courier
from jobs.models import Job, JobStatus
from marketplace.models import User
from tests.factories import CourierFactory, JobFactory, ShopUserFactory, UserFactory


def staff_in(group: str | None, **fields: object) -> User:
    """A staff user in ``group`` (None: staff in no dispute group)."""
    user = UserFactory(is_staff=True, **fields)
    if group is not None:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def support(db: None) -> User:
    return staff_in("support")


@pytest.fixture
def finance(db: None) -> User:
    return staff_in("finance")


@pytest.fixture
def carrier(db: None) -> Courier:
    return CourierFactory()


@pytest.fixture
def shop_member(db: None) -> User:
    return ShopUserFactory()


@pytest.fixture
def delivered_job(shop_member: User, carrier: Courier) -> Job:
    """Delivered just now: fee 636, tip 100 charged with it, parcel declared at 2000."""
    now = timezone.now()
    return JobFactory(
        shop=shop_member.shop,
        courier=carrier,
        status=JobStatus.DELIVERED,
        tip_minor=100,
        package_value_minor=2000,
        delivered_at=now,
        ended_at=now,
    )


def delivered_and_paid(
    standin, *, tip_minor: int = 150, payouts: bool = True, card: str = "pm_card_visa"
):
    """A job posted through the API (the shop paying with test ``card``), walked to
    delivered and captured at the stand-in, its transfer paid (or held when the courier
    cannot be paid yet). (job, shop user, courier)."""
    from tests.conftest import client_for
    from tests.payments.helpers import courier_with_payouts, drain, post_job, walk

    shop = ShopUserFactory(shop__payment_method=card)
    courier = CourierFactory()
    if payouts:
        courier_with_payouts(courier, standin)
    response = post_job(client_for(shop), tip_minor=tip_minor)
    assert response.status_code == 201, response.json()
    job = walk(response.json()["id"], JobStatus.DELIVERED, courier=courier)
    drain()
    return job, shop, courier


def shop_dispute(job: Job, shop: User, **claim: int):
    from payments.disputes.services import dispute_open

    return dispute_open(
        job=job,
        opener="shop",
        actor=shop,
        reason="damaged",
        description="Crushed.",
        claim_value_minor=claim.get("value", 0),
        claim_fee_minor=claim.get("fee", 0),
        claim_tip_minor=claim.get("tip", 0),
    )
