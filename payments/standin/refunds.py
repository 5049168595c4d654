"""The stand-in's refunds: create, retrieve and list.

A charge paid with ``pm_card_refundFail`` behaves as at Stripe: its refund is made
(``succeeded``, and answered so), then fails: the refund becomes ``failed`` with a
``failure_reason`` and a ``failure_balance_transaction`` that gives the amount back to the
balance, the charge's ``amount_refunded`` goes down again, and ``charge.refund.updated``
and ``refund.failed`` are sent. Here that happens as soon as the refund is made.
"""

from __future__ import annotations

from typing import Any

from payments.standin.forms import Call, Params, StripeFailure
from payments.standin.store import Store, new_id, public


def refund_create(store: Store, call: Call) -> dict[str, Any]:
    p = Params(
        call.params.data,
        allowed={
            "payment_intent",
            "charge",
            "amount",
            "metadata",
            "reason",
            "refund_application_fee",
            "reverse_transfer",
        },
    )
    if p.has("payment_intent"):
        intent = store.get("payment_intent", p.str("payment_intent"), param="payment_intent")
        if intent["status"] != "succeeded":
            raise StripeFailure(
                400,
                f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
                code="charge_not_refundable"
                if intent["status"] != "requires_capture"
                else "payment_intent_unexpected_state",
                param="payment_intent",
            )
        charge = store.get("charge", intent["latest_charge"])
    else:
        charge = store.get("charge", p.str("charge", required=True), param="charge")
    if not charge["captured"]:
        raise StripeFailure(
            400, f"Charge {charge['id']} has not been captured.", code="charge_not_refundable"
        )
    remaining = charge["amount_captured"] - charge["amount_refunded"]
    amount = p.int("amount", remaining) or 0
    if remaining <= 0:
        raise StripeFailure(
            400,
            f"Charge {charge['id']} has already been refunded.",
            code="charge_already_refunded",
        )
    if amount > remaining:
        raise StripeFailure(
            400,
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
            code="amount_too_large",
            param="amount",
        )
    if amount < 1:
        raise StripeFailure(
            400, "Refund amount must be positive", code="amount_too_small", param="amount"
        )
    refund_id = new_id("re_")
    txn = store.balance_transaction(
        amount=-amount, currency=charge["currency"], type="refund", source=refund_id
    )
    refund = store.add(
        "refund",
        {
            "id": refund_id,
            "amount": amount,
            "balance_transaction": txn["id"],
            "charge": charge["id"],
            "currency": charge["currency"],
            "metadata": p.metadata(),
            "payment_intent": charge["payment_intent"],
            "reason": p.str("reason"),
            "status": "succeeded",
        },
    )
    previous = charge["amount_refunded"]
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
    store.emit("refund.created", refund)
    store.emit("charge.refunded", charge, previous_attributes={"amount_refunded": previous})
    method = store.objects["payment_method"].get(charge.get("payment_method") or "") or {}
    if method.get("_behaviour") == "refund_fail":
        answer = public(refund)
        _refund_fail(store, refund, charge)
        return answer
    return refund


def _refund_fail(store: Store, refund: dict[str, Any], charge: dict[str, Any]) -> None:
    """The refund fails after it was made: the money is back on the balance."""
    txn = store.balance_transaction(
        amount=refund["amount"],
        currency=refund["currency"],
        type="refund_failure",
        source=refund["id"],
    )
    refund.update(
        status="failed",
        failure_reason="expired_or_canceled_card",
        failure_balance_transaction=txn["id"],
    )
    charge["amount_refunded"] -= refund["amount"]
    charge["refunded"] = False
    store.emit(
        "charge.refund.updated",
        refund,
        previous_attributes={
            "status": "succeeded",
            "failure_reason": None,
            "failure_balance_transaction": None,
        },
    )
    store.emit("refund.failed", refund)


def refund_retrieve(store: Store, call: Call) -> dict[str, Any]:
    return store.get("refund", call.args[0])


def refund_list(store: Store, call: Call) -> dict[str, Any]:
    p = call.params
    filters = {key: p.str(key) for key in ("charge", "payment_intent")}
    return store.list_answer(
        "refund",
        p,
        url="/v1/refunds",
        where=lambda refund: all(
            value is None or refund[key] == value for key, value in filters.items()
        ),
    )
