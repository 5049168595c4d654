"""The stand-in's payment intents (authorise, confirm, capture, cancel) and charges."""

from payments.standin.charges.capture import (
    INTENT_STATUSES_CANCELABLE,
    charge_list,
    charge_retrieve,
    expire_holds,
    payment_intent_cancel,
    payment_intent_capture,
    payment_intent_list,
    payment_intent_retrieve,
)
from payments.standin.charges.confirm import (
    CAPTURE_WINDOW_SECONDS,
    INTENT_CREATE_PARAMS,
    MINIMUM_CHARGE,
    payment_intent_confirm,
    payment_intent_create,
)

__all__ = [
    "CAPTURE_WINDOW_SECONDS",
    "INTENT_CREATE_PARAMS",
    "INTENT_STATUSES_CANCELABLE",
    "MINIMUM_CHARGE",
    "charge_list",
    "charge_retrieve",
    "expire_holds",
    "payment_intent_cancel",
    "payment_intent_capture",
    "payment_intent_confirm",
    "payment_intent_create",
    "payment_intent_list",
    "payment_intent_retrieve",
]
