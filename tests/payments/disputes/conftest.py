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
        user.groups.add(Group.objects.get_or_create(name=group)[0])
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
