"""The stand-in's refunds: create, retrieve and list."""

from __future__ import annotations

from typing import Any

from payments.standin.forms import Call, Params, StripeFailure
from payments.standin.store import Store, new_id


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
    return refund


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
