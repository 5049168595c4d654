"""Opening a dispute, the courier's reply, rejecting and asking for information: every state
change and every refusal, with the audit rows they write (or do not write)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import DatabaseError, transaction
from django.utils import timezone

from jobs.models import JobStatus
from payments.disputes.permissions import dispute_permissions, refund_limit_minor
from payments.disputes.services import (
    DisputeAlreadyOpen,
    DisputeAmountError,
    DisputeInvalidInput,
    DisputeNotAllowed,
    DisputeNotFound,
    DisputePermissionDenied,
    DisputeStateError,
    IdempotencyKeyReused,
    dispute_courier_reply,
    dispute_open,
    dispute_reject,
    dispute_request_info,
)
from payments.models import Dispute, DisputeAction, DisputeMessage
from tests.factories import CourierFactory, JobFactory, ShopUserFactory, UserFactory
from tests.payments.disputes.conftest import staff_in

pytestmark = pytest.mark.django_db


def _open(job, actor, **overrides):
    arguments = {
        "job": job,
        "opener": "shop",
        "actor": actor,
        "reason": "damaged",
        "description": "The box was crushed.",
        "claim_value_minor": 1500,
        "claim_fee_minor": 636,
        "claim_tip_minor": 0,
    }
    arguments.update(overrides)
    return dispute_open(**arguments)


def _state(dispute) -> tuple[str, int]:
    dispute.refresh_from_db()
    return dispute.state, dispute.actions.count()


def test_groups_exist_after_migrating() -> None:
    assert set(
        Group.objects.filter(name__in=["support", "finance"]).values_list("name", flat=True)
    ) == {
        "support",
        "finance",
    }


def test_permissions_per_group(support, finance) -> None:
    superuser = UserFactory(is_staff=True, is_superuser=True)
    money = {"full_refund", "partial_refund", "courier_adjustment", "courier_compensation"}
    assert dispute_permissions(support) == {
        "view",
        "request_info",
        "reject",
        "full_refund",
        "partial_refund",
    }
    assert dispute_permissions(finance) == money | {
        "view",
        "request_info",
        "reject",
        "submit_evidence",
    }
    assert dispute_permissions(superuser) == dispute_permissions(finance)
    assert dispute_permissions(staff_in(None)) == set()
    # A group member who is not staff (or no longer active) may do nothing.
    not_staff = UserFactory()
    not_staff.groups.add(Group.objects.get(name="finance"))
    assert dispute_permissions(not_staff) == set()
    assert dispute_permissions(staff_in("finance", is_active=False)) == set()
    assert dispute_permissions(None) == set()
    assert (refund_limit_minor(support), refund_limit_minor(finance)) == (5000, None)
    assert refund_limit_minor(superuser) is None


def test_shop_opens_and_the_courier_is_asked(delivered_job, shop_member) -> None:
    before = timezone.now()
    dispute = _open(delivered_job, shop_member, photos=())
    assert dispute.state == "awaiting_courier"
    assert (dispute.opener, dispute.opened_by, dispute.reason) == ("shop", shop_member, "damaged")
    assert (dispute.claim_value_minor, dispute.claim_fee_minor, dispute.claim_tip_minor) == (
        1500,
        636,
        0,
    )
    assert dispute.currency == "eur"
    reply_hours = (dispute.courier_reply_due_at - before).total_seconds() / 3600
    review_hours = (dispute.review_due_at - before).total_seconds() / 3600
    assert 48 <= reply_hours < 48.01
    assert 72 <= review_hours < 72.01
    (action,) = dispute.actions.all()
    assert (action.kind, action.from_state, action.to_state, action.party) == (
        "open",
        "open",
        "awaiting_courier",
        "shop",
    )
    assert (action.actor, action.amount_minor, action.note) == (
        shop_member,
        2136,
        "The box was crushed.",
    )


def test_courier_opens_without_being_asked(delivered_job, carrier) -> None:
    dispute = _open(
        delivered_job,
        carrier.user,
        opener="courier",
        reason="other",
        claim_value_minor=0,
        claim_fee_minor=0,
    )
    assert (dispute.state, dispute.courier_reply_due_at) == ("open", None)


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"reason": "damaged"}, ["reason"]),
        ({"reason": "courier_conduct"}, ["reason"]),
        ({"description": "  "}, ["description"]),
        ({"claim_fee_minor": 1}, ["claim_fee_minor"]),
        ({"claim_value_minor": 5, "claim_tip_minor": 1}, ["claim_value_minor", "claim_tip_minor"]),
    ],
)
def test_a_courier_gives_a_courier_reason_says_what_happened_and_claims_nothing(
    delivered_job, carrier, overrides, fields
) -> None:
    arguments = {
        "opener": "courier",
        "reason": "overcharged",
        "claim_value_minor": 0,
        "claim_fee_minor": 0,
        **overrides,
    }
    with pytest.raises(DisputeInvalidInput) as refused:
        _open(delivered_job, carrier.user, **arguments)
    assert sorted(refused.value.fields) == sorted(fields)
    assert (Dispute.objects.count(), DisputeAction.objects.count()) == (0, 0)


def test_recipient_opens_without_an_account(delivered_job) -> None:
    dispute = _open(delivered_job, None, opener="recipient", reason="never_delivered")
    assert (dispute.opener, dispute.opened_by, dispute.state) == (
        "recipient",
        None,
        "awaiting_courier",
    )


@pytest.mark.parametrize(
    ("part", "limit"),
    [("claim_value_minor", 2000), ("claim_fee_minor", 636), ("claim_tip_minor", 100)],
)
def test_each_claim_part_is_capped_at_what_was_charged(
    delivered_job, shop_member, part, limit
) -> None:
    with pytest.raises(DisputeAmountError) as refused:
        _open(delivered_job, shop_member, **{part: limit + 1})
    assert refused.value.code == "amount_exceeds_charge"
    assert refused.value.fields == {part: [f"At most {limit}."]}
    assert Dispute.objects.count() == 0
    # Exactly the charge is fine.
    assert _open(delivered_job, shop_member, **{part: limit}).state == "awaiting_courier"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("claim_value_minor", -1),
        ("claim_fee_minor", "636"),
        ("claim_tip_minor", 1.5),
        ("claim_value_minor", True),
        ("claim_value_minor", 2**63),
        ("reason", "bored"),
        ("description", 12),
        ("description", "x" * 5001),
    ],
)
def test_bad_input_is_refused_and_nothing_stored(delivered_job, shop_member, field, value) -> None:
    with pytest.raises(DisputeInvalidInput) as refused:
        _open(delivered_job, shop_member, **{field: value})
    assert list(refused.value.fields) == [field]
    assert (Dispute.objects.count(), DisputeAction.objects.count()) == (0, 0)


def test_cancelled_job_claims_only_the_fee_charged(shop_member, carrier) -> None:
    job = JobFactory(
        shop=shop_member.shop,
        courier=carrier,
        status=JobStatus.CANCELLED,
        cancellation_fee_charged_minor=300,
        tip_minor=100,
        ended_at=timezone.now(),
    )
    with pytest.raises(DisputeAmountError) as refused:
        _open(job, shop_member, reason="overcharged", claim_value_minor=0, claim_fee_minor=301)
    assert refused.value.fields == {"claim_fee_minor": ["At most 300."]}
    with pytest.raises(DisputeAmountError):
        _open(
            job,
            shop_member,
            reason="overcharged",
            claim_value_minor=0,
            claim_fee_minor=0,
            claim_tip_minor=1,
        )
    assert (
        _open(
            job, shop_member, reason="overcharged", claim_value_minor=0, claim_fee_minor=300
        ).claim_fee_minor
        == 300
    )


def test_one_open_dispute_per_job_and_opener(delivered_job, shop_member) -> None:
    first = _open(delivered_job, shop_member)
    colleague = ShopUserFactory(shop=shop_member.shop)
    with pytest.raises(DisputeAlreadyOpen):
        _open(delivered_job, colleague)
    assert Dispute.objects.count() == 1
    # Another opener may, and once the first is closed the shop may open again.
    _open(delivered_job, None, opener="recipient")
    dispute_reject(
        dispute=first, actor=staff_in("support"), reason="No damage visible.", idempotency_key="r1"
    )
    assert _open(delivered_job, colleague).state == "awaiting_courier"
    assert Dispute.objects.count() == 3


def test_window_closes_days_after_the_job_ended(delivered_job, shop_member, settings) -> None:
    settings.DISPUTE_WINDOW_DAYS = 14
    type(delivered_job).objects.filter(pk=delivered_job.pk).update(
        ended_at=timezone.now() - timedelta(days=14, minutes=1)
    )
    with pytest.raises(DisputeNotAllowed):
        _open(delivered_job, shop_member)
    type(delivered_job).objects.filter(pk=delivered_job.pk).update(
        ended_at=timezone.now() - timedelta(days=13, hours=23)
    )
    assert _open(delivered_job, shop_member).state == "awaiting_courier"


def test_a_job_not_yet_started_cannot_be_disputed(shop_member) -> None:
    job = JobFactory(shop=shop_member.shop, status=JobStatus.PENDING)
    with pytest.raises(DisputeNotAllowed):
        _open(job, shop_member, claim_value_minor=0, claim_fee_minor=0)
    assert Dispute.objects.count() == 0


def test_another_shops_or_couriers_job_is_not_found(delivered_job) -> None:
    with pytest.raises(DisputeNotFound):
        _open(delivered_job, ShopUserFactory())
    with pytest.raises(DisputeNotFound):
        _open(
            delivered_job,
            CourierFactory().user,
            opener="courier",
            reason="other",
            claim_value_minor=0,
            claim_fee_minor=0,
        )
    with pytest.raises(DisputeInvalidInput):
        _open(delivered_job, None, opener="stripe")
    assert Dispute.objects.count() == 0


def test_courier_reply_moves_the_dispute_to_review(delivered_job, shop_member, carrier) -> None:
    dispute = _open(delivered_job, shop_member)
    message = dispute_courier_reply(
        dispute=dispute, actor=carrier.user, statement="Handed over intact."
    )
    assert (message.party, message.author, message.text) == (
        "courier",
        carrier.user,
        "Handed over intact.",
    )
    assert _state(dispute) == ("under_review", 2)
    action = dispute.actions.last()
    assert (action.kind, action.from_state, action.to_state) == (
        "courier_reply",
        "awaiting_courier",
        "under_review",
    )
    # A second reply is refused: the dispute no longer waits for the courier.
    with pytest.raises(DisputeStateError):
        dispute_courier_reply(dispute=dispute, actor=carrier.user, statement="Again.")
    assert DisputeMessage.objects.count() == 1


def test_courier_reply_refusals(delivered_job, shop_member, carrier) -> None:
    dispute = _open(delivered_job, shop_member)
    with pytest.raises(DisputeNotFound):
        dispute_courier_reply(dispute=dispute, actor=CourierFactory().user, statement="Not mine.")
    with pytest.raises(DisputeNotFound):
        dispute_courier_reply(dispute=dispute, actor=shop_member, statement="I am the shop.")
    with pytest.raises(DisputeInvalidInput):
        dispute_courier_reply(dispute=dispute, actor=carrier.user, statement="   ")
    Dispute.objects.filter(pk=dispute.pk).update(
        courier_reply_due_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(DisputeStateError):
        dispute_courier_reply(dispute=dispute, actor=carrier.user, statement="Too late.")
    assert _state(dispute) == ("awaiting_courier", 1)
    assert DisputeMessage.objects.count() == 0


def test_support_rejects_once(delivered_job, shop_member, support) -> None:
    dispute = _open(delivered_job, shop_member)
    action = dispute_reject(
        dispute=dispute, actor=support, reason="Photo shows an intact box.", idempotency_key="k1"
    )
    dispute.refresh_from_db()
    assert (dispute.state, dispute.resolution) == ("rejected", "rejected")
    assert dispute.resolved_at is not None
    assert (action.kind, action.from_state, action.to_state, action.note) == (
        "reject",
        "awaiting_courier",
        "rejected",
        "Photo shows an intact box.",
    )
    # The same request again is the same action; a new one is a state error.
    assert (
        dispute_reject(dispute=dispute, actor=support, reason="again", idempotency_key="k1")
        == action
    )
    with pytest.raises(DisputeStateError):
        dispute_reject(dispute=dispute, actor=support, reason="again", idempotency_key="k2")
    with pytest.raises(DisputeStateError):
        dispute_request_info(
            dispute=dispute, actor=support, party="shop", message="More?", idempotency_key="k3"
        )
    assert _state(dispute) == ("rejected", 2)


def test_staff_outside_the_groups_may_do_nothing(delivered_job, shop_member) -> None:
    dispute = _open(delivered_job, shop_member)
    for actor in (staff_in(None), shop_member, UserFactory()):
        with pytest.raises(DisputePermissionDenied) as refused:
            dispute_reject(dispute=dispute, actor=actor, reason="No.", idempotency_key="x")
        assert (refused.value.code, refused.value.status_code) == ("permission_denied", 403)
        with pytest.raises(DisputePermissionDenied):
            dispute_request_info(
                dispute=dispute, actor=actor, party="shop", message="?", idempotency_key="y"
            )
    assert _state(dispute) == ("awaiting_courier", 1)
    assert DisputeMessage.objects.count() == 0


def test_reject_needs_a_reason_and_a_key(delivered_job, shop_member, support) -> None:
    dispute = _open(delivered_job, shop_member)
    with pytest.raises(DisputeInvalidInput) as refused:
        dispute_reject(dispute=dispute, actor=support, reason=" ", idempotency_key="k")
    assert list(refused.value.fields) == ["reason"]
    with pytest.raises(DisputeInvalidInput) as refused:
        dispute_reject(dispute=dispute, actor=support, reason="No.", idempotency_key="")
    assert list(refused.value.fields) == ["idempotency_key"]
    assert _state(dispute) == ("awaiting_courier", 1)


def test_request_info_from_each_party(delivered_job, shop_member, support, carrier) -> None:
    dispute = _open(delivered_job, shop_member)
    dispute_courier_reply(dispute=dispute, actor=carrier.user, statement="Delivered.")
    before = timezone.now()
    action = dispute_request_info(
        dispute=dispute,
        actor=support,
        party="courier",
        message="Send the photo.",
        idempotency_key="a",
    )
    dispute.refresh_from_db()
    assert (action.from_state, action.to_state, action.party) == (
        "under_review",
        "awaiting_courier",
        "courier",
    )
    assert dispute.state == "awaiting_courier"
    assert 48 <= (dispute.courier_reply_due_at - before).total_seconds() / 3600 < 48.01
    staff_message = DisputeMessage.objects.get(party="staff")
    assert (staff_message.addressed_to, staff_message.text, staff_message.author) == (
        "courier",
        "Send the photo.",
        support,
    )
    # The courier may reply again, then the shop is asked.
    dispute_courier_reply(dispute=dispute, actor=carrier.user, statement="Attached.")
    action = dispute_request_info(
        dispute=dispute, actor=support, party="shop", message="Receipt?", idempotency_key="b"
    )
    assert (action.from_state, action.to_state) == ("under_review", "under_review")
    with pytest.raises(IdempotencyKeyReused):
        dispute_reject(dispute=dispute, actor=support, reason="No.", idempotency_key="b")
    with pytest.raises(DisputeInvalidInput):
        dispute_request_info(
            dispute=dispute, actor=support, party="staff", message="?", idempotency_key="c"
        )
    assert _state(dispute) == ("under_review", 5)


def test_request_info_from_a_missing_courier_is_refused(shop_member, support) -> None:
    job = JobFactory(shop=shop_member.shop, status=JobStatus.CANCELLED, ended_at=timezone.now())
    dispute = _open(job, shop_member, reason="overcharged", claim_value_minor=0, claim_fee_minor=0)
    assert dispute.state == "open"
    with pytest.raises(DisputeStateError):
        dispute_request_info(
            dispute=dispute, actor=support, party="courier", message="?", idempotency_key="c"
        )
    assert _state(dispute) == ("open", 1)


def test_audit_rows_cannot_be_changed_or_deleted(delivered_job, shop_member) -> None:
    dispute = _open(delivered_job, shop_member)
    action = dispute.actions.get()
    for attempt in (
        lambda: DisputeAction.objects.filter(pk=action.pk).update(note="edited"),
        lambda: DisputeAction.objects.filter(pk=action.pk).delete(),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            attempt()
    action.refresh_from_db()
    assert action.note == "The box was crushed."
