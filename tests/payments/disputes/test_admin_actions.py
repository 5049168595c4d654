"""The dispute page's actions: each form reaches its one service and leaves the audit row
(and, for money, the money command and ledger entries) that service writes; a form sent
twice acts once; refusals (permission, state, amount, bad input) come back as error
messages on the page and change nothing."""

from __future__ import annotations

import re

import pytest
import requests
from django.contrib.messages import get_messages

from payments.disputes.services import chargeback_sync, dispute_open
from payments.models import (
    Dispute,
    DisputeAction,
    DisputeMessage,
    JobPayment,
    JournalEntry,
    MoneyCommand,
)
from tests.concurrency import on_another_connection, race
from tests.factories import ServiceZoneFactory
from tests.payments.disputes.admin_helpers import data_text, delivered_scene
from tests.payments.helpers import drain, every_entry_balances, standin_objects

pytestmark = pytest.mark.django_db

BASE = "/admin/payments/dispute"


@pytest.fixture
def dispute(delivered_job, shop_member) -> Dispute:
    """On a delivered job with no payment row (non-money actions only)."""
    return dispute_open(
        job=delivered_job,
        opener="shop",
        actor=shop_member,
        reason="damaged",
        description="Crushed.",
        claim_value_minor=1500,
        claim_fee_minor=300,
        claim_tip_minor=0,
    )


def rendered_key(client, dispute: Dispute, kind: str) -> str:
    """The one-time key of the ``kind`` form as the page renders it."""
    response = client.get(f"{BASE}/{dispute.pk}/change/")
    assert response.status_code == 200
    match = re.search(rf'name="{kind}-idempotency_key" value="([^"]+)"', response.content.decode())
    assert match, f"no {kind} form on the page"
    return match.group(1)


def act(client, dispute: Dispute, kind: str, key: str, **fields: object):
    data = {f"{kind}-idempotency_key": key, **{f"{kind}-{k}": v for k, v in fields.items()}}
    return client.post(f"{BASE}/{dispute.pk}/act/{kind}/", data, follow=True)


def said(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


def test_reject_calls_the_service_once_per_form(client, support, dispute) -> None:
    client.force_login(support)
    key = rendered_key(client, dispute, "reject")

    first = act(client, dispute, "reject", key, reason="Photo shows an intact box.")
    again = act(client, dispute, "reject", key, reason="Photo shows an intact box.")

    assert first.redirect_chain == [(f"{BASE}/{dispute.pk}/change/", 302)]
    assert said(first) == [("success", "Reject the claim: done (Rejected).")]
    assert again.redirect_chain == [(f"{BASE}/{dispute.pk}/change/", 302)]
    assert said(again) == [
        ("warning", "Reject the claim: already done (this form was sent before).")
    ]
    (action,) = DisputeAction.objects.filter(dispute=dispute, kind="reject")
    assert (action.actor, action.note, action.idempotency_key) == (
        support,
        "Photo shows an intact box.",
        key,
    )
    dispute.refresh_from_db()
    assert (dispute.state, dispute.resolution) == ("rejected", "rejected")


def test_each_rendering_has_a_fresh_key_bound_to_the_dispute_and_action(
    client, support, dispute
) -> None:
    client.force_login(support)

    first = rendered_key(client, dispute, "reject")
    second = rendered_key(client, dispute, "reject")

    assert first != second
    assert re.fullmatch(rf"admin:{dispute.pk}:reject:[0-9a-f]{{32}}", first)


def test_two_staff_with_two_forms_reject_once(client, support, dispute) -> None:
    from django.test import Client

    other = Client()
    other.force_login(support)
    client.force_login(support)
    mine = rendered_key(client, dispute, "reject")
    theirs = rendered_key(other, dispute, "reject")

    done = act(client, dispute, "reject", mine, reason="No damage visible.")
    late = act(other, dispute, "reject", theirs, reason="Also no.")

    assert said(done) == [("success", "Reject the claim: done (Rejected).")]
    assert (late.status_code, late.redirect_chain) == (200, [])
    assert said(late) == [
        (
            "error",
            "Reject the claim: A rejected dispute cannot be rejected. (invalid_dispute_state)",
        )
    ]
    assert DisputeAction.objects.filter(dispute=dispute, kind="reject").count() == 1


def test_request_info_asks_the_chosen_party(client, support, dispute, carrier) -> None:
    client.force_login(support)
    key = rendered_key(client, dispute, "request_info")

    response = act(
        client, dispute, "request_info", key, party="courier", message="Where did you leave it?"
    )

    assert said(response) == [
        ("success", "Ask for more information: done (Asked for more information).")
    ]
    (message,) = DisputeMessage.objects.filter(dispute=dispute)
    assert (message.party, message.addressed_to, message.author, message.text) == (
        "staff",
        "courier",
        support,
        "Where did you leave it?",
    )
    action = DisputeAction.objects.get(dispute=dispute, kind="request_info")
    assert (action.party, action.note, action.to_state) == (
        "courier",
        "Where did you leave it?",
        "awaiting_courier",
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"reason": ""}, "Reject the claim: Reason: This field is required."),
        (
            {"reason": "x" * 2001},
            "Reject the claim: Reason: Ensure this value has at most 2000 characters "
            "(it has 2001).",
        ),
    ],
)
def test_bad_input_is_an_error_message_and_nothing_changes(
    client, support, dispute, fields, expected
) -> None:
    client.force_login(support)
    key = rendered_key(client, dispute, "reject")

    response = act(client, dispute, "reject", key, **fields)

    assert (response.status_code, response.redirect_chain) == (200, [])
    assert said(response) == [("error", expected)]
    # The page comes back with the form as it was sent, under the same key.
    assert f'value="{key}"' in response.content.decode()
    assert DisputeAction.objects.filter(dispute=dispute, kind="reject").count() == 0
    dispute.refresh_from_db()
    assert dispute.state == "awaiting_courier"


def test_a_key_from_another_form_is_refused(client, support, dispute) -> None:
    client.force_login(support)
    wrong = rendered_key(client, dispute, "request_info")

    response = act(client, dispute, "reject", wrong, reason="No damage visible.")

    assert response.status_code == 200
    assert said(response) == [
        ("error", "Reject the claim: This form is not for this action; reload the page.")
    ]
    assert DisputeAction.objects.filter(kind="reject").count() == 0


def test_get_on_an_action_and_unknown_actions(client, support, dispute) -> None:
    client.force_login(support)

    get = client.get(f"{BASE}/{dispute.pk}/act/reject/")
    unknown = act(client, dispute, "delete_everything", "k")
    missing = client.post(f"{BASE}/{'0' * 8}-0000-0000-0000-{'0' * 12}/act/reject/", {})

    assert (get.status_code, unknown.status_code, missing.status_code) == (405, 404, 404)
    assert DisputeAction.objects.filter(dispute=dispute).count() == 1  # the opening only


# --- money: against the stand-in, with the ledger -----------------------------------------


@pytest.fixture
def scene(standin, zone):
    return delivered_scene(standin)


@pytest.fixture
def paid(scene) -> Dispute:
    """The shop's dispute on a paid, delivered job (fee 795 = 645 + tip 150 charged)."""
    return dispute_open(
        job=scene.job,
        opener="shop",
        actor=scene.shop_user,
        reason="damaged",
        description="Crushed.",
        claim_value_minor=1500,
        claim_fee_minor=300,
        claim_tip_minor=0,
    )


def entries(job_id, kind: str) -> list[list[tuple[str, int]]]:
    return [
        sorted(entry.lines.values_list("account__code", "amount_minor"))
        for entry in JournalEntry.objects.filter(job_id=job_id, kind=kind).order_by("pk")
    ]


def test_partial_refund_split_by_part_refunds_once(client, support, standin, paid) -> None:
    client.force_login(support)
    key = rendered_key(client, paid, "partial_refund")
    fields = {"value_minor": 400, "fee_minor": 300, "tip_minor": 50, "note": "Crushed"}

    first = act(client, paid, "partial_refund", key, **fields)
    again = act(client, paid, "partial_refund", key, **fields)
    drain()

    assert said(first) == [("success", "Refund part: done (Partial refund).")]
    assert said(again) == [("warning", "Refund part: already done (this form was sent before).")]
    (action,) = DisputeAction.objects.filter(dispute=paid, kind="partial_refund")
    assert (action.refund_value_minor, action.refund_fee_minor, action.refund_tip_minor) == (
        400,
        300,
        50,
    )
    assert (action.actor, action.note, action.idempotency_key) == (support, "Crushed", key)
    assert action.money_command.kind == "refund"
    assert action.money_command.state == "succeeded"
    assert MoneyCommand.objects.filter(job_id=paid.job_id, kind="refund").count() == 1
    assert [r["amount"] for r in standin_objects(standin, "refund")] == [750]
    assert entries(paid.job_id, "refund") == [[("refunds", 750), ("stripe_clearing", -750)]]
    assert every_entry_balances()
    assert JobPayment.objects.get(job_id=paid.job_id).refunded_minor == 750
    paid.refresh_from_db()
    assert (paid.state, paid.resolution) == ("resolved", "partial_refund")


def test_finance_refunds_everything_left(client, finance, standin, scene, paid) -> None:
    client.force_login(finance)
    key = rendered_key(client, paid, "full_refund")

    response = act(client, paid, "full_refund", key, note="All back")
    drain()

    charged = scene.job.total_minor + 150
    assert said(response) == [("success", "Refund everything: done (Full refund).")]
    action = DisputeAction.objects.get(dispute=paid, kind="full_refund")
    assert (action.refund_fee_minor, action.refund_tip_minor, action.refund_value_minor) == (
        scene.job.total_minor,
        150,
        0,
    )
    assert entries(paid.job_id, "refund") == [[("refunds", charged), ("stripe_clearing", -charged)]]
    assert every_entry_balances()


def test_finance_takes_back_from_and_compensates_the_courier(
    client, finance, standin, scene, paid
) -> None:
    client.force_login(finance)
    payable = f"courier_payable:{scene.courier.pk}"
    adjust = rendered_key(client, paid, "courier_adjustment")
    compensate = rendered_key(client, paid, "courier_compensation")

    taken = act(client, paid, "courier_adjustment", adjust, amount_minor=200, note="Careless")
    given = act(client, paid, "courier_compensation", compensate, amount_minor=120, note="Stairs")
    drain()

    assert said(taken) == [("success", "Take back from the courier: done (Courier adjustment).")]
    assert said(given) == [("success", "Compensate the courier: done (Courier compensation).")]
    adjustment = DisputeAction.objects.get(dispute=paid, kind="courier_adjustment")
    compensation = DisputeAction.objects.get(dispute=paid, kind="courier_compensation")
    assert (adjustment.amount_minor, adjustment.note) == (200, "Careless")
    assert (compensation.amount_minor, compensation.note) == (120, "Stairs")
    assert sorted(adjustment.journal_entry.lines.values_list("account__code", "amount_minor")) == [
        (payable, 200),
        ("refunds", -200),
    ]
    assert sorted(
        compensation.journal_entry.lines.values_list("account__code", "amount_minor")
    ) == [("compensations", 120), (payable, -120)]
    assert every_entry_balances()


def test_support_sees_only_its_forms_and_finance_all_money_forms(
    client, support, finance, paid
) -> None:
    def forms_for(user) -> list[str]:
        client.force_login(user)
        html = client.get(f"{BASE}/{paid.pk}/change/").content.decode()
        return re.findall(
            r'<form method="post" action="[^"]+" class="dispute-action" '
            r'data-action="([a-z_]+)"',
            html,
        )

    assert forms_for(support) == ["full_refund", "partial_refund", "reject", "request_info"]
    assert forms_for(finance) == [
        "full_refund",
        "partial_refund",
        "courier_adjustment",
        "courier_compensation",
        "reject",
        "request_info",
    ]


def test_support_does_not_see_a_full_refund_beyond_its_limit(
    client, support, paid, settings
) -> None:
    settings.DISPUTE_SUPPORT_REFUND_LIMIT_MINOR = 500  # less than the 795 charged
    client.force_login(support)

    html = client.get(f"{BASE}/{paid.pk}/change/").content.decode()

    assert 'data-action="full_refund"' not in html
    assert 'data-action="partial_refund"' in html
    assert data_text(html)[("field", "refund-limit")] == [
        "You may refund up to 500 (minor units) in all on a dispute."
    ]


def test_service_refusals_are_error_messages_and_change_nothing(
    client, support, standin, paid, settings
) -> None:
    settings.DISPUTE_SUPPORT_REFUND_LIMIT_MINOR = 1000
    client.force_login(support)
    over_limit = rendered_key(client, paid, "partial_refund")
    forged = f"admin:{paid.pk}:courier_adjustment:{'b' * 32}"

    limit = act(client, paid, "partial_refund", over_limit, value_minor=700, fee_minor=301)
    denied = act(client, paid, "courier_adjustment", forged, amount_minor=100)
    too_much = act(
        client, paid, "partial_refund", rendered_key(client, paid, "partial_refund"), tip_minor=151
    )

    assert said(limit) == [
        (
            "error",
            "Refund part: Support may refund at most 1000; finance can make this refund. "
            "(over_support_limit)",
        )
    ]
    assert said(denied) == [
        (
            "error",
            "Take back from the courier: You may not take this action on disputes. "
            "(permission_denied)",
        )
    ]
    ((level, text),) = said(too_much)
    assert level == "error"
    assert text.endswith("(amount_exceeds_charge)")
    assert "tip_minor at most 150" in text
    for response in (limit, denied, too_much):
        assert (response.status_code, response.redirect_chain) == (200, [])
    assert DisputeAction.objects.filter(dispute=paid).values_list("kind", flat=True).get() == "open"
    assert MoneyCommand.objects.filter(kind="refund").count() == 0
    assert standin_objects(standin, "refund") == []
    paid.refresh_from_db()
    assert paid.state == "awaiting_courier"


@pytest.mark.django_db(transaction=True)
def test_two_staff_refunding_at_once_move_money_once(standin, finance) -> None:
    from django.test import Client

    def set_up():
        ServiceZoneFactory(name="Berlin")
        scene = delivered_scene(standin)
        return dispute_open(
            job=scene.job,
            opener="shop",
            actor=scene.shop_user,
            reason="damaged",
            description="",
            claim_value_minor=0,
            claim_fee_minor=300,
            claim_tip_minor=0,
        )

    dispute = on_another_connection(set_up)
    clients = [Client(), Client()]
    keys = []
    for one in clients:
        one.force_login(finance)
        keys.append(rendered_key(one, dispute, "partial_refund"))

    results = race(
        *[
            lambda one=one, key=key: act(one, dispute, "partial_refund", key, fee_minor=300)
            for one, key in zip(clients, keys, strict=True)
        ]
    )
    on_another_connection(drain)

    messages = sorted(said(response)[0][0] for response in results)
    assert messages == ["error", "success"]
    assert DisputeAction.objects.filter(dispute=dispute, kind="partial_refund").count() == 1
    assert MoneyCommand.objects.filter(job_id=dispute.job_id, kind="refund").count() == 1
    assert [r["amount"] for r in standin_objects(standin, "refund")] == [300]


def test_finance_submits_a_chargebacks_evidence_once(client, finance, support, standin, scene):
    payment = JobPayment.objects.get(job_id=scene.job.pk)
    opened = requests.post(
        f"{standin.base_url}/_standin/charges/{payment.charge_id}/dispute",
        json={"reason": "product_not_received"},
        timeout=5,
    )
    opened.raise_for_status()
    chargeback = chargeback_sync(stripe_dispute_id=opened.json()["id"])
    client.force_login(support)
    support_page = client.get(f"{BASE}/{chargeback.pk}/change/").content.decode()
    client.force_login(finance)
    key = rendered_key(client, chargeback, "submit_evidence")
    finance_page = data_text(client.get(f"{BASE}/{chargeback.pk}/change/").content.decode())

    response = act(client, chargeback, "submit_evidence", key)
    drain()

    # Support sees the chargeback but cannot act on its money, nor refund or reject it.
    assert re.findall(r'data-action="([a-z_]+)"', support_page) == ["request_info"]
    assert finance_page[("field", "stripe-dispute")][0].startswith(
        f"{chargeback.stripe_dispute_id} product_not_received needs_response"
    )
    assert said(response) == [
        ("success", "Submit the evidence to Stripe: done (Evidence submitted to Stripe).")
    ]
    action = DisputeAction.objects.get(dispute=chargeback, kind="submit_evidence")
    assert (action.actor, action.idempotency_key) == (finance, key)
    assert action.money_command.state == "succeeded"
    chargeback.refresh_from_db()
    assert chargeback.state == "under_review"
    after = client.get(f"{BASE}/{chargeback.pk}/change/").content.decode()
    assert 'data-action="submit_evidence"' not in after


def test_after_a_refund_only_the_courier_money_actions_are_left(
    client, finance, standin, paid
) -> None:
    client.force_login(finance)
    act(
        client,
        paid,
        "partial_refund",
        rendered_key(client, paid, "partial_refund"),
        fee_minor=100,
    )

    html = client.get(f"{BASE}/{paid.pk}/change/").content.decode()

    assert re.findall(r'class="dispute-action" data-action="([a-z_]+)"', html) == [
        "courier_adjustment",
        "courier_compensation",
    ]
