"""The money actions against the stand-in: refunds, courier adjustments and compensation, each
with its ledger entries and Stripe calls, and reconciliation clean afterwards."""

from __future__ import annotations

import pytest

from payments.disputes.services import (
    DisputeAmountError,
    DisputeInvalidInput,
    DisputeOverSupportLimit,
    DisputePermissionDenied,
    DisputeStateError,
    dispute_courier_adjust,
    dispute_courier_compensate,
    dispute_full_refund,
    dispute_refund,
    dispute_reject,
)
from payments.models import (
    DisputeAction,
    JobPayment,
    JournalEntry,
    MoneyCommand,
    Transfer,
)
from payments.webhooks import _charge_refunded
from tests.conftest import client_for
from tests.payments.disputes.conftest import delivered_and_paid, shop_dispute, staff_in
from tests.payments.helpers import (
    balances,
    courier_with_payouts,
    differences,
    drain,
    every_entry_balances,
    fee,
    standin_objects,
)

pytestmark = pytest.mark.django_db


def _money_rows() -> tuple[int, int, int]:
    return (
        DisputeAction.objects.exclude(kind="open").count(),
        MoneyCommand.objects.filter(kind__in=["refund", "transfer_reversal"]).count(),
        JournalEntry.objects.count(),
    )


def test_support_full_refund_gives_back_everything_charged(standin, zone, support) -> None:
    job, shop, _ = delivered_and_paid(standin)
    charged = job.total_minor + 150
    dispute = shop_dispute(job, shop, fee=job.total_minor)
    before = balances()

    action = dispute_full_refund(
        dispute=dispute, actor=support, note="Lost parcel.", idempotency_key="f1"
    )
    dispute.refresh_from_db()
    assert (dispute.state, dispute.resolution) == ("resolved", "full_refund")
    assert (
        action.kind,
        action.refund_value_minor,
        action.refund_fee_minor,
        action.refund_tip_minor,
    ) == (
        "full_refund",
        0,
        job.total_minor,
        150,
    )
    assert (action.amount_minor, action.actor, action.note) == (charged, support, "Lost parcel.")
    command = action.money_command
    assert (command.kind, command.amount_minor, command.idempotency_key) == (
        "refund",
        charged,
        f"dispute:{dispute.pk}:refund:job",
    )
    assert balances() == before  # nothing is booked before Stripe did it
    drain()

    (refund,) = standin_objects(standin, "refund")
    payment = JobPayment.objects.get(job_id=job.pk)
    assert (refund["amount"], refund["charge"]) == (charged, payment.charge_id)
    assert refund["metadata"] == {
        "job_id": str(job.pk),
        "dispute_id": str(dispute.pk),
        "money_command_id": str(command.pk),
    }
    assert payment.refunded_minor == charged
    entry = JournalEntry.objects.get(idempotency_key=f"refund:{refund['id']}")
    assert sorted(entry.lines.values_list("account__code", "amount_minor")) == [
        ("refunds", charged),
        ("stripe_clearing", -charged),
    ]
    share = job.courier_payout_minor + 150
    assert balances() == {
        "stripe_clearing": charged - fee(charged) - share - charged,
        "platform_revenue": -job.platform_fee_minor,
        "stripe_fees": fee(charged),
        "refunds": charged,
    }
    # Stripe's charge.refunded for the same refund books nothing more.
    (charge,) = standin_objects(standin, "charge")
    _charge_refunded(charge)
    assert JournalEntry.objects.filter(kind="refund").count() == 1
    assert every_entry_balances()
    assert differences() == []


def test_partial_refund_split_by_part_and_the_caps(standin, zone, finance) -> None:
    job, shop, _ = delivered_and_paid(standin, tip_minor=0)
    dispute = shop_dispute(job, shop, value=1000, fee=200)
    before = _money_rows()
    # Each part at most what was charged (the value at most what the charge has left).
    for parts, field in (
        ({"value_minor": 0, "fee_minor": job.total_minor + 1, "tip_minor": 0}, "fee_minor"),
        ({"value_minor": 0, "fee_minor": 0, "tip_minor": 1}, "tip_minor"),
        ({"value_minor": job.total_minor + 1, "fee_minor": 0, "tip_minor": 0}, "value_minor"),
    ):
        with pytest.raises(DisputeAmountError) as refused:
            dispute_refund(dispute=dispute, actor=finance, note="", idempotency_key="p", **parts)
        assert list(refused.value.fields) == [field]
        assert refused.value.code == "amount_exceeds_charge"
    with pytest.raises(DisputeInvalidInput):
        dispute_refund(
            dispute=dispute,
            actor=finance,
            value_minor=0,
            fee_minor=0,
            tip_minor=0,
            note="",
            idempotency_key="p",
        )
    with pytest.raises(DisputeInvalidInput):
        dispute_refund(
            dispute=dispute,
            actor=finance,
            value_minor="1",
            fee_minor=0,
            tip_minor=0,
            note="",
            idempotency_key="p",
        )
    assert _money_rows() == before

    action = dispute_refund(
        dispute=dispute,
        actor=finance,
        value_minor=300,
        fee_minor=200,
        tip_minor=0,
        note="Dented.",
        idempotency_key="p",
    )
    assert (
        action.kind,
        action.refund_value_minor,
        action.refund_fee_minor,
        action.amount_minor,
    ) == (
        "partial_refund",
        300,
        200,
        500,
    )
    drain()
    (refund,) = standin_objects(standin, "refund")
    assert refund["amount"] == 500
    assert balances()["refunds"] == 500
    assert JobPayment.objects.get(job_id=job.pk).refunded_minor == 500
    # One refund per dispute: a second one (another key) is a state error.
    with pytest.raises(DisputeStateError):
        dispute_refund(
            dispute=dispute,
            actor=finance,
            value_minor=1,
            fee_minor=0,
            tip_minor=0,
            note="",
            idempotency_key="q",
        )
    assert differences() == []


def test_support_over_its_limit_is_refused_and_finance_may(
    standin, zone, support, finance, settings
) -> None:
    settings.DISPUTE_SUPPORT_REFUND_LIMIT_MINOR = 300
    job, shop, _ = delivered_and_paid(standin, tip_minor=0)
    dispute = shop_dispute(job, shop, fee=400)
    before = _money_rows()
    with pytest.raises(DisputeOverSupportLimit) as refused:
        dispute_refund(
            dispute=dispute,
            actor=support,
            value_minor=0,
            fee_minor=301,
            tip_minor=0,
            note="",
            idempotency_key="s",
        )
    assert (refused.value.code, refused.value.status_code) == ("over_support_limit", 422)
    with pytest.raises(DisputeOverSupportLimit):
        dispute_full_refund(dispute=dispute, actor=support, note="", idempotency_key="s2")
    dispute.refresh_from_db()
    assert dispute.state == "awaiting_courier"
    assert _money_rows() == before
    action = dispute_refund(
        dispute=dispute,
        actor=finance,
        value_minor=0,
        fee_minor=400,
        tip_minor=0,
        note="",
        idempotency_key="s",
    )
    assert action.amount_minor == 400


def test_staff_outside_the_money_groups_move_nothing(standin, zone, support) -> None:
    job, shop, _ = delivered_and_paid(standin)
    dispute = shop_dispute(job, shop, fee=100)
    before = _money_rows()
    for actor, call in (
        (
            staff_in(None),
            lambda a: dispute_full_refund(dispute=dispute, actor=a, note="", idempotency_key="x"),
        ),
        (
            support,
            lambda a: dispute_courier_adjust(
                dispute=dispute, actor=a, amount_minor=100, note="", idempotency_key="x"
            ),
        ),
        (
            support,
            lambda a: dispute_courier_compensate(
                dispute=dispute, actor=a, amount_minor=100, note="", idempotency_key="x"
            ),
        ),
        (
            shop,
            lambda a: dispute_refund(
                dispute=dispute,
                actor=a,
                value_minor=0,
                fee_minor=1,
                tip_minor=0,
                note="",
                idempotency_key="x",
            ),
        ),
    ):
        with pytest.raises(DisputePermissionDenied):
            call(actor)
    assert _money_rows() == before
    dispute.refresh_from_db()
    assert dispute.state == "awaiting_courier"


def test_no_refund_before_capture_or_after_rejection(standin, zone, finance, support) -> None:
    job, shop, _ = delivered_and_paid(standin)
    dispute = shop_dispute(job, shop)
    dispute_reject(dispute=dispute, actor=support, reason="No evidence.", idempotency_key="r")
    before = _money_rows()
    with pytest.raises(DisputeStateError):
        dispute_full_refund(dispute=dispute, actor=finance, note="", idempotency_key="f")
    with pytest.raises(DisputeStateError):
        dispute_courier_adjust(
            dispute=dispute, actor=finance, amount_minor=1, note="", idempotency_key="a"
        )
    # A job whose capture has not run yet has nothing to refund.
    second = shop_dispute(job, shop)
    JobPayment.objects.filter(job_id=job.pk).update(status="capturing")
    with pytest.raises(DisputeStateError):
        dispute_full_refund(dispute=second, actor=finance, note="", idempotency_key="f2")
    assert _money_rows() == before


def test_a_tip_given_after_delivery_is_refunded_on_its_own_charge(standin, zone, finance) -> None:
    job, shop, _ = delivered_and_paid(standin, tip_minor=0)
    tip = client_for(shop).post(f"/api/v1/jobs/{job.pk}/tip/", {"amount_minor": 200}, format="json")
    assert tip.status_code == 201, tip.json()
    drain()
    dispute = shop_dispute(job, shop, tip=200)
    dispute_refund(
        dispute=dispute,
        actor=finance,
        value_minor=0,
        fee_minor=100,
        tip_minor=200,
        note="",
        idempotency_key="t",
    )
    commands = dict(
        MoneyCommand.objects.filter(kind="refund").values_list("params__charge", "amount_minor")
    )
    assert commands == {"tip": 200, "job": 100}
    drain()
    refunds = {r["charge"]: r["amount"] for r in standin_objects(standin, "refund")}
    payment = JobPayment.objects.get(job_id=job.pk)
    tip_charge = next(c for c in standin_objects(standin, "charge") if c["id"] != payment.charge_id)
    assert refunds == {payment.charge_id: 100, tip_charge["id"]: 200}
    assert balances()["refunds"] == 300
    assert differences() == []


def test_courier_adjustment_reverses_a_paid_transfer(standin, zone, finance) -> None:
    job, shop, courier = delivered_and_paid(standin, tip_minor=0)
    transfer = Transfer.objects.get(job_id=job.pk)
    assert transfer.state == "paid"
    dispute = shop_dispute(job, shop, fee=300)
    dispute_refund(
        dispute=dispute,
        actor=finance,
        value_minor=0,
        fee_minor=300,
        tip_minor=0,
        note="",
        idempotency_key="r",
    )
    with pytest.raises(DisputeAmountError) as refused:
        dispute_courier_adjust(
            dispute=dispute,
            actor=finance,
            amount_minor=transfer.amount_minor + 1,
            note="",
            idempotency_key="a",
        )
    assert refused.value.fields == {"amount_minor": [f"At most {transfer.amount_minor}."]}

    action = dispute_courier_adjust(
        dispute=dispute, actor=finance, amount_minor=250, note="Careless.", idempotency_key="a"
    )
    entry = action.journal_entry
    assert sorted(entry.lines.values_list("account__code", "amount_minor")) == [
        (f"courier_payable:{courier.pk}", 250),
        ("refunds", -250),
    ]
    assert (action.money_command.kind, action.money_command.amount_minor) == (
        "transfer_reversal",
        250,
    )
    drain()
    (stripe_transfer,) = standin_objects(standin, "transfer")
    assert stripe_transfer["amount_reversed"] == 250
    transfer.refresh_from_db()
    assert transfer.amount_reversed_minor == 250
    books = balances()
    assert f"courier_payable:{courier.pk}" not in books  # owed nothing either way
    assert books["refunds"] == 300 - 250
    assert differences() == []


def test_courier_adjustment_reduces_held_earnings_first(standin, zone, finance) -> None:
    job, shop, courier = delivered_and_paid(standin, tip_minor=0, payouts=False)
    transfer = Transfer.objects.get(job_id=job.pk)
    owed = transfer.amount_minor
    assert transfer.state == "held"
    dispute = shop_dispute(job, shop)
    dispute_courier_adjust(
        dispute=dispute, actor=finance, amount_minor=100, note="", idempotency_key="a"
    )
    transfer.refresh_from_db()
    assert (transfer.state, transfer.amount_minor) == ("held", owed - 100)
    assert MoneyCommand.objects.filter(kind="transfer_reversal").count() == 0
    assert balances()[f"courier_payable:{courier.pk}"] == -(owed - 100)
    # Once the courier can be paid, the reduced amount goes out and they are owed nothing.
    courier_with_payouts(courier, standin)
    drain()
    (sent,) = standin_objects(standin, "transfer")
    assert sent["amount"] == owed - 100
    assert f"courier_payable:{courier.pk}" not in balances()
    assert differences() == []


def test_courier_adjustment_of_everything_held_cancels_the_transfer(standin, zone, finance) -> None:
    job, shop, courier = delivered_and_paid(standin, tip_minor=0, payouts=False)
    transfer = Transfer.objects.get(job_id=job.pk)
    dispute = shop_dispute(job, shop)
    dispute_courier_adjust(
        dispute=dispute,
        actor=finance,
        amount_minor=transfer.amount_minor,
        note="",
        idempotency_key="a",
    )
    transfer.refresh_from_db()
    assert transfer.state == "cancelled"
    courier_with_payouts(courier, standin)
    from payments.flows import payouts_release

    assert payouts_release(courier_id=courier.pk) == 0
    drain()
    assert standin_objects(standin, "transfer") == []
    assert f"courier_payable:{courier.pk}" not in balances()
    assert differences() == []


def test_compensation_is_owed_and_transferred(standin, zone, finance) -> None:
    job, _, courier = delivered_and_paid(standin, tip_minor=0)
    from payments.disputes.services import dispute_open

    dispute = dispute_open(
        job=job,
        opener="courier",
        actor=courier.user,
        reason="other",
        description="The claw-back was wrong.",
        claim_value_minor=0,
        claim_fee_minor=0,
        claim_tip_minor=0,
    )
    action = dispute_courier_compensate(
        dispute=dispute, actor=finance, amount_minor=60, note="", idempotency_key="c"
    )
    assert sorted(action.journal_entry.lines.values_list("account__code", "amount_minor")) == [
        ("compensations", 60),
        (f"courier_payable:{courier.pk}", -60),
    ]
    dispute.refresh_from_db()
    assert (dispute.state, dispute.resolution) == ("resolved", "courier_compensation")
    drain()
    transfers = sorted(
        (t["amount"], t["metadata"]["kind"]) for t in standin_objects(standin, "transfer")
    )
    assert transfers == sorted([(job.courier_payout_minor, "payout"), (60, "compensation")])
    assert f"courier_payable:{courier.pk}" not in balances()
    assert balances()["compensations"] == 60
    # The same request again is the same action; a second compensation is refused.
    assert (
        dispute_courier_compensate(
            dispute=dispute, actor=finance, amount_minor=60, note="", idempotency_key="c"
        )
        == action
    )
    with pytest.raises(DisputeStateError):
        dispute_courier_compensate(
            dispute=dispute, actor=finance, amount_minor=1, note="", idempotency_key="c2"
        )
    assert Transfer.objects.filter(kind="compensation").count() == 1
    assert differences() == []


@pytest.mark.parametrize("amount", [0, -1, True, "5", 2**63])
def test_a_courier_adjustment_or_compensation_needs_a_positive_whole_amount(
    standin, zone, finance, amount
) -> None:
    job, shop, _ = delivered_and_paid(standin, tip_minor=0)
    dispute = shop_dispute(job, shop)
    state = dispute.state
    for action in (dispute_courier_adjust, dispute_courier_compensate):
        with pytest.raises(DisputeInvalidInput) as refused:
            action(
                dispute=dispute, actor=finance, amount_minor=amount, note="", idempotency_key="x"
            )
        assert list(refused.value.fields) == ["amount_minor"]
    dispute.refresh_from_db()
    assert dispute.state == state
    assert not DisputeAction.objects.filter(dispute=dispute).exclude(kind="open").exists()
    assert MoneyCommand.objects.filter(kind="transfer_reversal").count() == 0
    assert Transfer.objects.filter(kind="compensation").count() == 0
