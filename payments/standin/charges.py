"""The stand-in's customers, cards, setup intents, payment intents, charges, refunds, disputes."""

from __future__ import annotations

import datetime
import secrets
from typing import Any

from payments.standin.forms import Call, Params, StripeFailure
from payments.standin.store import Store, new_id, public

CAPTURE_WINDOW_SECONDS = 7 * 24 * 3600
MINIMUM_CHARGE = {"eur": 50, "usd": 50, "gbp": 30, "chf": 50}
INTENT_STATUSES_CANCELABLE = {
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "requires_capture",
}

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


def _card_error(
    message: str, *, code: str, decline_code: str | None, extra: dict[str, Any]
) -> StripeFailure:
    return StripeFailure(
        402, message, type="card_error", code=code, decline_code=decline_code, extra=extra
    )


def _set_metadata(obj: dict[str, Any], metadata: dict[str, str]) -> None:
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
    _set_metadata(customer, p.metadata())
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
        raise _card_error(
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
        raise _card_error(
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


# -- payment intents ---------------------------------------------------------------------

INTENT_CREATE_PARAMS = {
    "amount",
    "currency",
    "customer",
    "payment_method",
    "payment_method_types",
    "capture_method",
    "confirm",
    "off_session",
    "transfer_group",
    "metadata",
    "description",
    "statement_descriptor_suffix",
    "setup_future_usage",
    "receipt_email",
    "error_on_requires_action",
}


def expire_holds(store: Store) -> None:
    """Stripe cancels a hold nobody captured within seven days."""
    now = store.now()
    for intent in list(store.objects["payment_intent"].values()):
        if intent["status"] == "requires_capture" and intent["_capture_before"] < now:
            _cancel(store, intent, reason="automatic")


def payment_intent_create(store: Store, call: Call) -> dict[str, Any]:
    p = Params(call.params.data, allowed=INTENT_CREATE_PARAMS)
    amount = p.int("amount", required=True) or 0
    currency = (p.str("currency", required=True) or "").lower()
    minimum = MINIMUM_CHARGE.get(currency, 50)
    if amount < minimum:
        raise StripeFailure(
            400,
            f"Amount must be at least {minimum} {currency} minor units",
            code="amount_too_small",
            param="amount",
        )
    capture_method = p.str("capture_method", "automatic")
    if capture_method not in ("automatic", "automatic_async", "manual"):
        raise StripeFailure(
            400,
            f"Invalid capture_method: {capture_method}",
            code="parameter_invalid",
            param="capture_method",
        )
    customer = p.str("customer")
    if customer is not None:
        store.get("customer", customer, param="customer")
    intent_id = new_id("pi_")
    intent = store.add(
        "payment_intent",
        {
            "id": intent_id,
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": capture_method,
            "client_secret": f"{intent_id}_secret_{new_id('')}",
            "confirmation_method": "automatic",
            "currency": currency,
            "customer": customer,
            "description": p.str("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "metadata": p.metadata(),
            "next_action": None,
            "payment_method": None,
            "payment_method_types": p.data.get("payment_method_types") or ["card"],
            "status": "requires_payment_method",
            "transfer_group": p.str("transfer_group"),
            "_capture_before": 0,
        },
    )
    store.emit("payment_intent.created", intent)
    if p.has("payment_method"):
        method = resolve_payment_method(
            store, p.str("payment_method") or "", param="payment_method"
        )
        if method["customer"] not in (None, customer):
            raise StripeFailure(
                400,
                "The provided PaymentMethod belongs to another customer.",
                code="payment_method_unexpected_state",
                param="payment_method",
            )
        intent["payment_method"] = method["id"]
        intent["status"] = "requires_confirmation"
    if p.bool("confirm"):
        _confirm(store, intent, off_session=p.bool("off_session"), expand=call.params.expand())
    return intent


def payment_intent_confirm(store: Store, call: Call) -> dict[str, Any]:
    p = Params(call.params.data, allowed={"payment_method", "off_session", "return_url"})
    intent = store.get("payment_intent", call.args[0])
    if intent["status"] not in (
        "requires_payment_method",
        "requires_confirmation",
        "requires_action",
    ):
        raise _unexpected_state(intent, "confirm")
    if p.has("payment_method"):
        method = resolve_payment_method(
            store, p.str("payment_method") or "", param="payment_method"
        )
        intent["payment_method"] = method["id"]
    _confirm(store, intent, off_session=p.bool("off_session"), expand=call.params.expand())
    return intent


def _unexpected_state(intent: dict[str, Any], verb: str) -> StripeFailure:
    return StripeFailure(
        400,
        f"This PaymentIntent's {verb} could not be completed because it has a status of "
        f"{intent['status']}.",
        code="payment_intent_unexpected_state",
        extra={"payment_intent": public(intent)},
    )


def _confirm(store: Store, intent: dict[str, Any], *, off_session: bool, expand: list[str]) -> None:
    if intent["payment_method"] is None:
        raise StripeFailure(
            400,
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            code="payment_intent_unexpected_state",
        )
    method = store.get("payment_method", intent["payment_method"])
    behaviour = method["_behaviour"]
    if behaviour in ("decline", "decline_on_charge"):
        decline = method["_decline_code"]
        _fail(store, intent, method, code="card_declined", decline_code=decline)
        raise _card_error(
            DECLINE_MESSAGES[decline],
            code="card_declined",
            decline_code=decline,
            extra={
                "charge": intent["latest_charge"],
                "payment_intent": store.render(intent, expand),
                "payment_method": public(method),
            },
        )
    if behaviour == "authentication":
        if off_session:
            _fail(
                store,
                intent,
                method,
                code="authentication_required",
                decline_code="authentication_required",
            )
            raise _card_error(
                "Your card was declined. This transaction requires authentication.",
                code="authentication_required",
                decline_code="authentication_required",
                extra={
                    "charge": intent["latest_charge"],
                    "payment_intent": store.render(intent, expand),
                    "payment_method": public(method),
                },
            )
        intent["status"] = "requires_action"
        intent["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {}}
        store.emit("payment_intent.requires_action", intent)
        return
    charge = _charge_for(store, intent, method, status="succeeded")
    intent["latest_charge"] = charge["id"]
    intent["last_payment_error"] = None
    if intent["capture_method"] == "manual":
        intent["status"] = "requires_capture"
        intent["amount_capturable"] = intent["amount"]
        intent["_capture_before"] = charge["payment_method_details"]["card"]["capture_before"]
        store.emit("charge.succeeded", charge)
        store.emit(
            "payment_intent.amount_capturable_updated",
            intent,
            previous_attributes={"amount_capturable": 0},
        )
    else:
        _capture_charge(store, charge, intent["amount"])
        intent["status"] = "succeeded"
        intent["amount_received"] = intent["amount"]
        store.emit("charge.succeeded", charge)
        store.emit("payment_intent.succeeded", intent)


def _charge_for(
    store: Store, intent: dict[str, Any], method: dict[str, Any], *, status: str
) -> dict[str, Any]:
    now = store.now()
    return store.add(
        "charge",
        {
            "amount": intent["amount"],
            "amount_captured": 0,
            "amount_refunded": 0,
            "balance_transaction": None,
            "captured": False,
            "currency": intent["currency"],
            "customer": intent["customer"],
            "description": intent["description"],
            "disputed": False,
            "failure_code": None,
            "failure_message": None,
            "metadata": dict(intent["metadata"]),
            "outcome": {
                "network_status": "approved_by_network"
                if status == "succeeded"
                else "declined_by_network",
                "type": "authorized" if status == "succeeded" else "issuer_declined",
                "seller_message": "Payment complete."
                if status == "succeeded"
                else "The bank did not return any further details with this decline.",
            },
            "paid": status == "succeeded",
            "payment_intent": intent["id"],
            "payment_method": method["id"],
            "payment_method_details": {
                "type": "card",
                "card": {
                    "brand": method["card"]["brand"],
                    "last4": method["card"]["last4"],
                    "exp_month": method["card"]["exp_month"],
                    "exp_year": method["card"]["exp_year"],
                    "capture_before": now + CAPTURE_WINDOW_SECONDS,
                },
            },
            "refunded": False,
            "source_transfer": None,
            "status": status,
            "transfer_group": intent["transfer_group"],
            "_transferred": 0,
        },
    )


def _fail(
    store: Store,
    intent: dict[str, Any],
    method: dict[str, Any],
    *,
    code: str,
    decline_code: str,
) -> None:
    charge = _charge_for(store, intent, method, status="failed")
    message = (
        DECLINE_MESSAGES.get(decline_code)
        or "Your card was declined. This transaction requires authentication."
    )
    charge["failure_code"] = code
    charge["failure_message"] = message
    intent["latest_charge"] = charge["id"]
    intent["status"] = "requires_payment_method"
    intent["last_payment_error"] = {
        "type": "card_error",
        "code": code,
        "decline_code": decline_code,
        "message": message,
        "charge": charge["id"],
        "payment_method": public(method),
    }
    store.emit("charge.failed", charge)
    store.emit("payment_intent.payment_failed", intent)


def _capture_charge(store: Store, charge: dict[str, Any], amount: int) -> None:
    fee = store.fee_for(amount)
    txn = store.balance_transaction(
        amount=amount,
        currency=charge["currency"],
        type="charge",
        source=charge["id"],
        fee=fee,
        description=charge["description"],
    )
    charge["captured"] = True
    charge["amount_captured"] = amount
    charge["balance_transaction"] = txn["id"]


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
    _set_metadata(intent, p.metadata())
    charge = store.get("charge", intent["latest_charge"])
    _capture_charge(store, charge, amount)
    intent["status"] = "succeeded"
    intent["amount_received"] = amount
    intent["amount_capturable"] = 0
    store.emit(
        "charge.captured", charge, previous_attributes={"captured": False, "amount_captured": 0}
    )
    store.emit("payment_intent.succeeded", intent)
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


# -- refunds -----------------------------------------------------------------------------


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


# -- disputes (opened and closed through the test helpers) -------------------------------


def dispute_open(
    store: Store, charge_id: str, *, amount: int | None, reason: str
) -> dict[str, Any]:
    """The card holder disputes a captured charge: the amount and the fee leave the balance."""
    charge = store.get("charge", charge_id)
    if not charge["captured"] or charge["disputed"]:
        raise StripeFailure(400, f"Charge {charge_id} cannot be disputed.", code="charge_disputed")
    amount = charge["amount_captured"] - charge["amount_refunded"] if amount is None else amount
    dispute_id = new_id("dp_")
    txn = store.balance_transaction(
        amount=-amount,
        currency=charge["currency"],
        type="adjustment",
        source=dispute_id,
        fee=store.dispute_fee_minor,
        description=f"Chargeback withdrawal for {charge_id}",
        reporting_category="dispute",
    )
    dispute = store.add(
        "dispute",
        {
            "id": dispute_id,
            "amount": amount,
            "balance_transactions": [txn["id"]],
            "charge": charge_id,
            "currency": charge["currency"],
            "evidence_details": {"due_by": store.now() + 7 * 24 * 3600, "has_evidence": False},
            "is_charge_refundable": False,
            "metadata": {},
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "status": "needs_response",
        },
    )
    charge["disputed"] = True
    store.emit("charge.dispute.created", dispute)
    store.emit("charge.dispute.funds_withdrawn", dispute)
    return dispute


def dispute_close(store: Store, dispute_id: str, *, outcome: str) -> dict[str, Any]:
    """Won: the disputed amount comes back (the fee does not). Lost: nothing comes back."""
    dispute = store.get("dispute", dispute_id)
    if dispute["status"] in ("won", "lost"):
        raise StripeFailure(400, f"Dispute {dispute_id} is already closed.", code="dispute_closed")
    if outcome not in ("won", "lost"):
        raise StripeFailure(
            400, "outcome must be won or lost", code="parameter_invalid", param="outcome"
        )
    previous = dispute["status"]
    dispute["status"] = outcome
    if outcome == "won":
        txn = store.balance_transaction(
            amount=dispute["amount"],
            currency=dispute["currency"],
            type="adjustment",
            source=dispute_id,
            description=f"Chargeback reversal for {dispute['charge']}",
            reporting_category="dispute_reversal",
        )
        dispute["balance_transactions"].append(txn["id"])
        store.emit("charge.dispute.funds_reinstated", dispute)
    store.emit("charge.dispute.closed", dispute, previous_attributes={"status": previous})
    return dispute


def dispute_retrieve(store: Store, call: Call) -> dict[str, Any]:
    return store.get("dispute", call.args[0])


def dispute_list(store: Store, call: Call) -> dict[str, Any]:
    return store.list_answer("dispute", call.params, url="/v1/disputes")
