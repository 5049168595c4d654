"""Two staff pressing the same button at once, in real threads on their own connections:
the money moves once."""

from __future__ import annotations

import pytest

from payments.disputes.services import (
    DisputeStateError,
    dispute_courier_adjust,
    dispute_full_refund,
)
from payments.models import DisputeAction, MoneyCommand
from tests.concurrency import race
from tests.payments.disputes.conftest import delivered_and_paid, shop_dispute, staff_in
from tests.payments.helpers import differences, drain, standin_objects

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_same_refund_form_sent_twice_at_once_refunds_once(standin, zone) -> None:
    job, shop, _ = delivered_and_paid(standin)
    dispute = shop_dispute(job, shop)
    finance = staff_in("finance")

    def press():
        return dispute_full_refund(
            dispute=dispute.pk, actor=finance, note="", idempotency_key="form-1"
        )

    first, second = race(press, press)
    assert isinstance(first, DisputeAction)
    assert isinstance(second, DisputeAction)
    assert first.pk == second.pk
    assert DisputeAction.objects.filter(kind="full_refund").count() == 1
    assert MoneyCommand.objects.filter(kind="refund").count() == 1
    drain()
    assert [r["amount"] for r in standin_objects(standin, "refund")] == [job.total_minor + 150]
    assert differences() == []


def test_two_staff_with_two_forms_refund_once(standin, zone) -> None:
    job, shop, _ = delivered_and_paid(standin)
    dispute = shop_dispute(job, shop)
    one, two = staff_in("finance"), staff_in("support")

    results = race(
        lambda: dispute_full_refund(dispute=dispute.pk, actor=one, note="", idempotency_key="a"),
        lambda: dispute_full_refund(dispute=dispute.pk, actor=two, note="", idempotency_key="b"),
    )
    assert sorted(type(result).__name__ for result in results) == [
        "DisputeAction",
        "DisputeStateError",
    ]
    assert MoneyCommand.objects.filter(kind="refund").count() == 1
    drain()
    assert len(standin_objects(standin, "refund")) == 1
    assert differences() == []


def test_two_courier_adjustments_at_once_reverse_once(standin, zone) -> None:
    job, shop, _ = delivered_and_paid(standin, tip_minor=0)
    dispute = shop_dispute(job, shop)
    finance = staff_in("finance")

    def press(key: str):
        return lambda: dispute_courier_adjust(
            dispute=dispute.pk, actor=finance, amount_minor=200, note="", idempotency_key=key
        )

    results = race(press("x"), press("y"))
    assert sum(isinstance(result, DisputeAction) for result in results) == 1
    assert sum(isinstance(result, DisputeStateError) for result in results) == 1
    drain()
    (transfer,) = standin_objects(standin, "transfer")
    assert transfer["amount_reversed"] == 200
    assert differences() == []
