"""The stand-in's customers, test cards (payment methods) and setup intents."""

from __future__ import annotations

import datetime
import secrets
from typing import Any

from payments.standin.forms import Call, Params, StripeFailure
from payments.standin.store import Store, new_id, public

# Stripe's test PaymentMethods. ``behaviour``: ok | decline (attaching fails too) |
# decline_on_charge (attaching works, charging fails) | authentication (needs 3DS).
TEST_CARDS: dict[str, dict[str, Any]] = {
    "pm_card_visa": {"brand": "visa", "last4": "4242", "behaviour": "ok"},
    "pm_card_mastercard": {"brand": "mastercard", "last4": "4444", "behaviour": "ok"},
    "pm_card_amex": {"brand": "amex", "last4": "8431", "behaviour": "ok"},
    "pm_card_chargeDeclined": {
        "brand": "visa",
        "last4": "0002",
        "behaviour": "decline",
        "decline_code": "generic_decline",
    },
    "pm_card_chargeDeclinedInsufficientFunds": {
        "brand": "visa",
        "last4": "9995",
        "behaviour": "decline",
        "decline_code": "insufficient_funds",
    },
    "pm_card_chargeCustomerFail": {
        "brand": "visa",
        "last4": "0341",
        "behaviour": "decline_on_charge",
        "decline_code": "generic_decline",
    },
    # Captures fine, then the card holder disputes the charge (reason "fraudulent").
    "pm_card_createDispute": {"brand": "visa", "last4": "0259", "behaviour": "dispute"},
    # Captures fine; a refund is made (succeeded), then fails (payments/standin/refunds.py).
    "pm_card_refundFail": {"brand": "visa", "last4": "5126", "behaviour": "refund_fail"},
    "pm_card_authenticationRequired": {
        "brand": "visa",
        "last4": "3184",
        "behaviour": "authentication",
    },
}
DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
}


def card_error(
    message: str, *, code: str, decline_code: str | None, extra: dict[str, Any]
) -> StripeFailure:
    return StripeFailure(
        402, message, type="card_error", code=code, decline_code=decline_code, extra=extra
    )


def set_metadata(obj: dict[str, Any], metadata: dict[str, str]) -> None:
    """Stripe merges metadata on update; an empty value removes the key."""
    for key, value in metadata.items():
        if value == "":
            obj["metadata"].pop(key, None)
        else:
            obj["metadata"][key] = value


# -- customers ---------------------------------------------------------------------------


def customer_create(store: Store, call: Call) -> dict[str, Any]:
    p = Params(call.params.data, allowed={"email", "name", "description", "metadata", "phone"})
    customer = store.add(
        "customer",
        {
            "email": p.str("email"),
            "name": p.str("name"),
            "description": p.str("description"),
            "phone": p.str("phone"),
            "metadata": p.metadata(),
            "invoice_settings": {"default_payment_method": None},
            "balance": 0,
            "currency": None,
            "delinquent": False,
        },
    )
    store.emit("customer.created", customer)
    return customer


def customer_retrieve(store: Store, call: Call) -> dict[str, Any]:
    return store.get("customer", call.args[0])


def customer_update(store: Store, call: Call) -> dict[str, Any]:
    p = Params(
        call.params.data,
        allowed={"email", "name", "description", "metadata", "phone", "invoice_settings"},
    )
    customer = store.get("customer", call.args[0])
    for key in ("email", "name", "description", "phone"):
        if key in p.data:
            customer[key] = p.str(key)
    set_metadata(customer, p.metadata())
    settings = p.dict("invoice_settings")
    if "default_payment_method" in settings:
        method_id = settings["default_payment_method"] or None
        if method_id is not None:
            method = store.objects["payment_method"].get(method_id)
            if method is None or method["customer"] != customer["id"]:
                raise StripeFailure(
                    400,
                    f"No such PaymentMethod: '{method_id}'",
                    code="resource_missing",
                    param="invoice_settings[default_payment_method]",
                )
        previous = customer["invoice_settings"]["default_payment_method"]
        customer["invoice_settings"]["default_payment_method"] = method_id
        store.emit(
            "customer.updated",
            customer,
            previous_attributes={"invoice_settings": {"default_payment_method": previous}},
        )
    return customer


def customer_payment_methods(store: Store, call: Call) -> dict[str, Any]:
    store.get("customer", call.args[0])
    return store.list_answer(
        "payment_method",
        call.params,
        url=f"/v1/customers/{call.args[0]}/payment_methods",
        where=lambda method: method["customer"] == call.args[0],
    )


# -- payment methods ---------------------------------------------------------------------


def _new_card(store: Store, template_id: str) -> dict[str, Any]:
    card = TEST_CARDS[template_id]
    year = datetime.date.today().year + 3
    return store.add(
        "payment_method",
        {
            "type": "card",
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "card": {
                "brand": card["brand"],
                "last4": card["last4"],
                "exp_month": 12,
                "exp_year": year,
                "country": "US",
                "funding": "credit",
                "fingerprint": secrets.token_hex(8),
                "checks": {"cvc_check": "pass", "address_postal_code_check": None},
            },
            "customer": None,
            "metadata": {},
            "_behaviour": card["behaviour"],
            "_decline_code": card.get("decline_code"),
            "_template": template_id,
        },
    )


def resolve_payment_method(store: Store, method_id: str, *, param: str) -> dict[str, Any]:
    """A stored PaymentMethod, or a fresh one for a test id like ``pm_card_visa``."""
    if method_id in TEST_CARDS:
        return _new_card(store, method_id)
    return store.get("payment_method", method_id, param=param)


def payment_method_retrieve(store: Store, call: Call) -> dict[str, Any]:
    return resolve_payment_method(store, call.args[0], param="id")


def payment_method_list(store: Store, call: Call) -> dict[str, Any]:
    p = Params(call.params.data, allowed={"customer", "type", "limit", "starting_after"})
    customer = p.str("customer")
    return store.list_answer(
        "payment_method",
        p,
        url="/v1/payment_methods",
        where=lambda method: customer is None or method["customer"] == customer,
    )


def payment_method_attach(store: Store, call: Call) -> dict[str, Any]:
    p = Params(call.params.data, allowed={"customer"})
    customer = store.get("customer", p.str("customer", required=True), param="customer")
    method = resolve_payment_method(store, call.args[0], param="id")
    if method["customer"] == customer["id"]:
        return method
    if method["customer"] is not None:
        raise StripeFailure(
            400,
            "The payment method you provided has already been attached to a customer.",
            code="payment_method_unexpected_state",
        )
    if method["_behaviour"] == "decline":
        decline = method["_decline_code"]
        raise card_error(
            DECLINE_MESSAGES[decline], code="card_declined", decline_code=decline, extra={}
        )
    method["customer"] = customer["id"]
    store.emit("payment_method.attached", method)
    return method


def payment_method_detach(store: Store, call: Call) -> dict[str, Any]:
    Params(call.params.data, allowed=set())
    method = store.get("payment_method", call.args[0])
    if method["customer"] is None:
        raise StripeFailure(
            400,
            "The payment method you provided is not attached to a customer so detachment "
            "is impossible.",
            code="payment_method_unexpected_state",
        )
    customer = store.get("customer", method["customer"])
    if customer["invoice_settings"]["default_payment_method"] == method["id"]:
        customer["invoice_settings"]["default_payment_method"] = None
    previous = method["customer"]
    method["customer"] = None
    store.emit("payment_method.detached", method, previous_attributes={"customer": previous})
    return method


# -- setup intents -----------------------------------------------------------------------


def setup_intent_create(store: Store, call: Call) -> dict[str, Any]:
    p = Params(
        call.params.data,
        allowed={
            "customer",
            "usage",
            "payment_method_types",
            "payment_method",
            "confirm",
            "metadata",
        },
    )
    customer = p.str("customer")
    if customer is not None:
        store.get("customer", customer, param="customer")
    intent_id = new_id("seti_")
    intent = store.add(
        "setup_intent",
        {
            "id": intent_id,
            "client_secret": f"{intent_id}_secret_{new_id('')}",
            "customer": customer,
            "usage": p.str("usage", "off_session"),
            "payment_method_types": p.data.get("payment_method_types") or ["card"],
            "payment_method": None,
            "status": "requires_payment_method",
            "metadata": p.metadata(),
            "last_setup_error": None,
        },
    )
    if p.has("payment_method"):
        _setup_confirm(store, intent, p.str("payment_method") or "", confirm=p.bool("confirm"))
    return intent


def _setup_confirm(store: Store, intent: dict[str, Any], method_id: str, *, confirm: bool) -> None:
    method = resolve_payment_method(store, method_id, param="payment_method")
    intent["payment_method"] = method["id"]
    intent["status"] = "requires_confirmation"
    if not confirm:
        return
    if method["_behaviour"] == "decline":
        decline = method["_decline_code"]
        intent["status"] = "requires_payment_method"
        intent["last_setup_error"] = {"code": "card_declined", "decline_code": decline}
        store.emit("setup_intent.setup_failed", intent)
        raise card_error(
            DECLINE_MESSAGES[decline],
            code="card_declined",
            decline_code=decline,
            extra={"setup_intent": public(intent)},
        )
    if intent["customer"] is not None and method["customer"] is None:
        method["customer"] = intent["customer"]
        store.emit("payment_method.attached", method)
    intent["status"] = "succeeded"
    store.emit("setup_intent.succeeded", intent)


def setup_intent_retrieve(store: Store, call: Call) -> dict[str, Any]:
    return store.get("setup_intent", call.args[0])


def setup_intent_confirm(store: Store, call: Call) -> dict[str, Any]:
    p = Params(call.params.data, allowed={"payment_method", "return_url"})
    intent = store.get("setup_intent", call.args[0])
    if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
        raise StripeFailure(
            400,
            f"This SetupIntent has a status of {intent['status']} and cannot be confirmed.",
            code="setup_intent_unexpected_state",
        )
    method_id = p.str("payment_method") or intent["payment_method"]
    if method_id is None:
        raise StripeFailure(
            400, "Missing required param: payment_method.", code="parameter_missing"
        )
    _setup_confirm(store, intent, method_id, confirm=True)
    return intent
