"""The stand-in's API routes: which handler answers which method and path."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from payments.standin import accounts, charges, customers, disputes, files, refunds, transfers
from payments.standin.forms import Call, StripeFailure
from payments.standin.store import Store

Handler = Callable[[Store, Call], dict[str, Any]]
_ID = r"([A-Za-z0-9_]+)"

ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (method, re.compile(f"^{pattern}$"), handler)
    for method, pattern, handler in [
        ("POST", "/v1/customers", customers.customer_create),
        ("GET", f"/v1/customers/{_ID}", customers.customer_retrieve),
        ("POST", f"/v1/customers/{_ID}", customers.customer_update),
        ("GET", f"/v1/customers/{_ID}/payment_methods", customers.customer_payment_methods),
        ("GET", "/v1/payment_methods", customers.payment_method_list),
        ("GET", f"/v1/payment_methods/{_ID}", customers.payment_method_retrieve),
        ("POST", f"/v1/payment_methods/{_ID}/attach", customers.payment_method_attach),
        ("POST", f"/v1/payment_methods/{_ID}/detach", customers.payment_method_detach),
        ("POST", "/v1/setup_intents", customers.setup_intent_create),
        ("GET", f"/v1/setup_intents/{_ID}", customers.setup_intent_retrieve),
        ("POST", f"/v1/setup_intents/{_ID}/confirm", customers.setup_intent_confirm),
        ("POST", "/v1/payment_intents", charges.payment_intent_create),
        ("GET", "/v1/payment_intents", charges.payment_intent_list),
        ("GET", f"/v1/payment_intents/{_ID}", charges.payment_intent_retrieve),
        ("POST", f"/v1/payment_intents/{_ID}/confirm", charges.payment_intent_confirm),
        ("POST", f"/v1/payment_intents/{_ID}/capture", charges.payment_intent_capture),
        ("POST", f"/v1/payment_intents/{_ID}/cancel", charges.payment_intent_cancel),
        ("GET", "/v1/charges", charges.charge_list),
        ("GET", f"/v1/charges/{_ID}", charges.charge_retrieve),
        ("POST", "/v1/refunds", refunds.refund_create),
        ("GET", "/v1/refunds", refunds.refund_list),
        ("GET", f"/v1/refunds/{_ID}", refunds.refund_retrieve),
        ("GET", "/v1/disputes", disputes.dispute_list),
        ("GET", f"/v1/disputes/{_ID}", disputes.dispute_retrieve),
        ("POST", f"/v1/disputes/{_ID}", disputes.dispute_update),
        ("POST", "/v1/files", files.file_create),
        ("GET", "/v1/files", files.file_list),
        ("GET", f"/v1/files/{_ID}", files.file_retrieve),
        ("POST", "/v1/accounts", accounts.account_create),
        ("GET", "/v1/accounts", accounts.account_list),
        ("GET", f"/v1/accounts/{_ID}", accounts.account_retrieve),
        ("POST", f"/v1/accounts/{_ID}", accounts.account_update),
        ("POST", "/v1/account_links", accounts.account_link_create),
        ("POST", "/v1/transfers", transfers.transfer_create),
        ("GET", "/v1/transfers", transfers.transfer_list),
        ("GET", f"/v1/transfers/{_ID}", transfers.transfer_retrieve),
        ("POST", f"/v1/transfers/{_ID}/reversals", transfers.transfer_reversal_create),
        ("GET", f"/v1/transfers/{_ID}/reversals", transfers.transfer_reversal_list),
        ("GET", "/v1/balance", transfers.balance_retrieve),
        ("GET", "/v1/balance_transactions", transfers.balance_transaction_list),
        ("GET", f"/v1/balance_transactions/{_ID}", transfers.balance_transaction_retrieve),
        ("GET", "/v1/payouts", transfers.payout_list),
        (
            "GET",
            "/v1/events",
            lambda store, call: store.list_answer("event", call.params, url="/v1/events"),
        ),
        ("GET", f"/v1/events/{_ID}", lambda store, call: store.get("event", call.args[0])),
    ]
]


def _route(method: str, path: str) -> tuple[Handler, tuple[str, ...]]:
    for route_method, pattern, handler in ROUTES:
        match = pattern.match(path)
        if match and route_method == method:
            return handler, match.groups()
    raise StripeFailure(404, f"Unrecognized request URL ({method}: {path}).")
