"""The stand-in's payment intents being created and confirmed: the card's answer, the charge."""

from __future__ import annotations

from typing import Any

from payments.standin.customers import (
    DECLINE_MESSAGES,
    card_error,
    resolve_payment_method,
)
from payments.standin.forms import Call, Params, StripeFailure
from payments.standin.store import Store, new_id, public

CAPTURE_WINDOW_SECONDS = 7 * 24 * 3600
MINIMUM_CHARGE = {"eur": 50, "usd": 50, "gbp": 30, "chf": 50}

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
    confirm, off_session = p.bool("confirm"), p.bool("off_session")
    # Everything is checked before the intent exists: a refused request leaves nothing.
    method = None
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
    if method is not None:
        intent["payment_method"] = method["id"]
        intent["status"] = "requires_confirmation"
    if confirm:
        _confirm(store, intent, off_session=off_session, expand=call.params.expand())
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
        raise card_error(
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
            raise card_error(
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
        _dispute_if_asked(store, charge, method)


def _dispute_if_asked(store: Store, charge: dict[str, Any], method: dict[str, Any]) -> None:
    """``pm_card_createDispute``: the card holder disputes the charge once it is captured."""
    if method["_behaviour"] == "dispute":
        from payments.standin.disputes import dispute_open

        dispute_open(store, charge["id"], amount=None, reason="fraudulent")


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
