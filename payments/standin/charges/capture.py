"""The stand-in's holds captured, cancelled and expired, and payment intents and charges read."""

from __future__ import annotations

from typing import Any

from payments.standin.charges.confirm import _capture_charge, _dispute_if_asked, _unexpected_state
from payments.standin.customers import set_metadata
from payments.standin.forms import Call, Params, StripeFailure
from payments.standin.store import Store

INTENT_STATUSES_CANCELABLE = {
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "requires_capture",
}


def expire_holds(store: Store) -> None:
    """Stripe cancels a hold nobody captured within seven days."""
    now = store.now()
    for intent in list(store.objects["payment_intent"].values()):
        if intent["status"] == "requires_capture" and intent["_capture_before"] < now:
            _cancel(store, intent, reason="automatic")


def payment_intent_capture(store: Store, call: Call) -> dict[str, Any]:
    p = Params(
        call.params.data,
        allowed={"amount_to_capture", "metadata", "final_capture", "statement_descriptor_suffix"},
    )
    intent = store.get("payment_intent", call.args[0])
    if intent["status"] != "requires_capture":
        raise _unexpected_state(intent, "capture")
    amount = p.int("amount_to_capture", intent["amount_capturable"]) or 0
    if amount > intent["amount_capturable"]:
        raise StripeFailure(
            400,
            f"The amount to capture ({amount}) is greater than the amount capturable "
            f"({intent['amount_capturable']}).",
            code="amount_too_large",
            param="amount_to_capture",
        )
    if amount < 1:
        raise StripeFailure(
            400,
            "The amount to capture must be positive; cancel the PaymentIntent instead.",
            code="amount_too_small",
            param="amount_to_capture",
        )
    set_metadata(intent, p.metadata())
    charge = store.get("charge", intent["latest_charge"])
    _capture_charge(store, charge, amount)
    intent["status"] = "succeeded"
    intent["amount_received"] = amount
    intent["amount_capturable"] = 0
    store.emit(
        "charge.captured", charge, previous_attributes={"captured": False, "amount_captured": 0}
    )
    store.emit("payment_intent.succeeded", intent)
    _dispute_if_asked(store, charge, store.get("payment_method", intent["payment_method"]))
    return intent


def _cancel(store: Store, intent: dict[str, Any], *, reason: str | None) -> None:
    previous = intent["status"]
    intent["status"] = "canceled"
    intent["canceled_at"] = store.now()
    intent["cancellation_reason"] = reason
    intent["amount_capturable"] = 0
    store.emit("payment_intent.canceled", intent, previous_attributes={"status": previous})


def payment_intent_cancel(store: Store, call: Call) -> dict[str, Any]:
    p = Params(call.params.data, allowed={"cancellation_reason"})
    intent = store.get("payment_intent", call.args[0])
    if intent["status"] not in INTENT_STATUSES_CANCELABLE:
        raise _unexpected_state(intent, "cancellation")
    _cancel(store, intent, reason=p.str("cancellation_reason"))
    return intent


def payment_intent_retrieve(store: Store, call: Call) -> dict[str, Any]:
    return store.get("payment_intent", call.args[0])


def payment_intent_list(store: Store, call: Call) -> dict[str, Any]:
    customer = call.params.str("customer")
    return store.list_answer(
        "payment_intent",
        call.params,
        url="/v1/payment_intents",
        where=lambda intent: customer is None or intent["customer"] == customer,
    )


# -- charges -----------------------------------------------------------------------------


def charge_retrieve(store: Store, call: Call) -> dict[str, Any]:
    return store.get("charge", call.args[0])


def charge_list(store: Store, call: Call) -> dict[str, Any]:
    p = call.params
    filters = {key: p.str(key) for key in ("customer", "payment_intent", "transfer_group")}
    return store.list_answer(
        "charge",
        p,
        url="/v1/charges",
        where=lambda charge: all(
            value is None or charge[key] == value for key, value in filters.items()
        ),
    )
