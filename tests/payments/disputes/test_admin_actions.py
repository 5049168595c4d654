"""The dispute page's actions: each form reaches its one service and leaves the audit row
(and, for money, the money command and ledger entries) that service writes; a form sent
twice acts once; refusals (permission, state, amount, bad input) come back as error
messages on the page and change nothing."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages

from payments.disputes.services import dispute_open
from payments.models import Dispute, DisputeAction, DisputeMessage

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
