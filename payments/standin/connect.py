"""The stand-in's Connect side: accounts, onboarding links, transfers, reversals, payouts."""

from __future__ import annotations

import secrets
from typing import Any

from payments.standin.forms import Call, Params, StripeFailure
from payments.standin.store import Store, new_id, public

ACCOUNT_LINK_TTL_SECONDS = 300
CURRENCY_BY_COUNTRY = {"US": "usd", "GB": "gbp", "CH": "chf", "CA": "cad", "AU": "aud"}
ONBOARDING_REQUIREMENTS = [
    "business_profile.mcc",
    "business_profile.url",
    "business_type",
    "external_account",
    "individual.dob.day",
    "individual.dob.month",
    "individual.dob.year",
    "individual.email",
    "individual.first_name",
    "individual.last_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
]


# -- accounts ----------------------------------------------------------------------------


def account_create(store: Store, call: Call) -> dict[str, Any]:
    p = Params(
        call.params.data,
        allowed={
            "type",
            "controller",
            "country",
            "email",
            "capabilities",
            "business_type",
            "metadata",
            "business_profile",
            "tos_acceptance",
        },
    )
    account_type = p.str("type", "express")
    if account_type not in ("express", "custom", "standard"):
        raise StripeFailure(
            400, f"Invalid type: {account_type}", code="parameter_invalid", param="type"
        )
    country = (p.str("country", "DE") or "DE").upper()
    requested = [
        name
        for name, spec in p.dict("capabilities").items()
        if isinstance(spec, dict) and spec.get("requested") == "true"
    ]
    return store.add(
        "account",
        {
            "type": account_type,
            "business_type": p.str("business_type"),
            "capabilities": {name: "inactive" for name in sorted(requested)},
            "charges_enabled": False,
            "country": country,
            "default_currency": CURRENCY_BY_COUNTRY.get(country, "eur"),
            "details_submitted": False,
            "email": p.str("email"),
            "metadata": p.metadata(),
            "payouts_enabled": False,
            "requirements": _requirements(ONBOARDING_REQUIREMENTS),
            "settings": {"payouts": {"schedule": {"interval": "daily", "delay_days": 2}}},
        },
    )


def _requirements(due: list[str]) -> dict[str, Any]:
    return {
        "currently_due": list(due),
        "eventually_due": list(due),
        "past_due": [],
        "pending_verification": [],
        "disabled_reason": "requirements.past_due" if due else None,
        "current_deadline": None,
        "errors": [],
    }


def account_change(store: Store, account: dict[str, Any], **changes: Any) -> None:
    """Apply ``changes`` and tell the connect endpoint (``account.updated``) if any differ."""
    previous = {key: account[key] for key in changes if account[key] != changes[key]}
    if not previous:
        return
    account.update(changes)
    store.emit("account.updated", account, account=account["id"], previous_attributes=previous)


def account_onboard(store: Store, account: dict[str, Any]) -> None:
    """What finishing Stripe's hosted onboarding does to an Express account."""
    account_change(
        store,
        account,
        details_submitted=True,
        charges_enabled=True,
        payouts_enabled=True,
        capabilities={name: "active" for name in account["capabilities"]}
        or {"transfers": "active"},
        requirements=_requirements([]),
    )


def account_set_payouts(store: Store, account: dict[str, Any], *, enabled: bool) -> None:
    if enabled:
        account_onboard(store, account)
        return
    account_change(
        store,
        account,
        payouts_enabled=False,
        requirements=_requirements(["external_account"]),
    )


def account_retrieve(store: Store, call: Call) -> dict[str, Any]:
    return store.get("account", call.args[0])


def account_update(store: Store, call: Call) -> dict[str, Any]:
    p = Params(call.params.data, allowed={"email", "metadata", "business_profile"})
    account = store.get("account", call.args[0])
    if "email" in p.data:
        account["email"] = p.str("email")
    for key, value in p.metadata().items():
        if value == "":
            account["metadata"].pop(key, None)
        else:
            account["metadata"][key] = value
    return account


def account_list(store: Store, call: Call) -> dict[str, Any]:
    return store.list_answer("account", call.params, url="/v1/accounts")


def account_link_create(store: Store, call: Call) -> dict[str, Any]:
    p = Params(
        call.params.data,
        allowed={"account", "refresh_url", "return_url", "type", "collect", "collection_options"},
    )
    account = store.get("account", p.str("account", required=True), param="account")
    link_type = p.str("type", required=True)
    if link_type not in ("account_onboarding", "account_update"):
        raise StripeFailure(
            400, f"Invalid type: {link_type}", code="parameter_invalid", param="type"
        )
    token = secrets.token_urlsafe(24)
    now = store.now()
    store.account_links[token] = {
        "account": account["id"],
        "refresh_url": p.str("refresh_url", required=True),
        "return_url": p.str("return_url", required=True),
        "expires_at": now + ACCOUNT_LINK_TTL_SECONDS,
        "used": False,
    }
    return {
        "object": "account_link",
        "created": now,
        "expires_at": now + ACCOUNT_LINK_TTL_SECONDS,
        "url": f"{call.base_url}/_standin/onboard/{token}",
    }


def account_link_open(store: Store, token: str) -> str:
    """Opening a link onboards the account and goes to ``return_url``; a used or expired
    link goes to ``refresh_url``, as Stripe's do. Returns where to redirect."""
    link = store.account_links.get(token)
    if link is None:
        raise StripeFailure(404, "This onboarding link does not exist.", code="resource_missing")
    if link["used"] or link["expires_at"] < store.now():
        return link["refresh_url"]
    link["used"] = True
    account_onboard(store, store.get("account", link["account"]))
    return link["return_url"]


# -- transfers ---------------------------------------------------------------------------


def transfer_create(store: Store, call: Call) -> dict[str, Any]:
    p = Params(
        call.params.data,
        allowed={
            "amount",
            "currency",
            "destination",
            "source_transaction",
            "transfer_group",
            "metadata",
            "description",
        },
    )
    amount = p.int("amount", required=True) or 0
    currency = (p.str("currency", required=True) or "").lower()
    if amount < 1:
        raise StripeFailure(400, "Amount must be positive", code="amount_too_small", param="amount")
    destination_id = p.str("destination", required=True)
    destination = store.objects["account"].get(destination_id or "")
    if destination is None:
        raise StripeFailure(
            400,
            f"No such destination: '{destination_id}'",
            code="resource_missing",
            param="destination",
        )
    if destination["capabilities"].get("transfers") != "active":
        raise StripeFailure(
            400,
            "Your destination account needs to have at least one of the following capabilities "
            "enabled: transfers, crypto_transfers, legacy_payments",
            code="insufficient_capabilities_for_transfer",
            param="destination",
        )
    source_id = p.str("source_transaction")
    source = None
    if source_id is not None:
        source = store.get("charge", source_id, param="source_transaction")
        if source["currency"] != currency:
            raise StripeFailure(
                400,
                f"The currency of source_transaction's balance transaction ({source['currency']}) "
                f"must be the same as the transfer currency ({currency})",
                code="parameter_invalid",
                param="currency",
            )
        if not source["captured"]:
            raise StripeFailure(
                400,
                f"The source_transaction {source_id} has not been captured.",
                code="parameter_invalid",
                param="source_transaction",
            )
        left = source["amount_captured"] - source["amount_refunded"] - source["_transferred"]
        if amount > left:
            raise StripeFailure(
                400,
                f"The transfer amount ({amount}) exceeds what is left of source_transaction "
                f"{source_id} ({left}).",
                code="amount_too_large",
                param="amount",
            )
    elif store.available(currency) < amount:
        raise StripeFailure(
            400,
            "You have insufficient available funds in your Stripe account.",
            code="balance_insufficient",
        )
    transfer_id = new_id("tr_")
    txn = store.balance_transaction(
        amount=-amount, currency=currency, type="transfer", source=transfer_id
    )
    payment_id = new_id("py_")
    store.balance_transaction(
        amount=amount,
        currency=currency,
        type="payment",
        source=payment_id,
        account=destination["id"],
    )
    transfer = store.add(
        "transfer",
        {
            "id": transfer_id,
            "amount": amount,
            "amount_reversed": 0,
            "balance_transaction": txn["id"],
            "currency": currency,
            "description": p.str("description"),
            "destination": destination["id"],
            "destination_payment": payment_id,
            "metadata": p.metadata(),
            "reversals": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": f"/v1/transfers/{transfer_id}/reversals",
            },
            "reversed": False,
            "source_transaction": source_id,
            "source_type": "card",
            "transfer_group": p.str("transfer_group"),
        },
    )
    if source is not None:
        source["_transferred"] += amount
    store.emit("transfer.created", transfer)
    return transfer


def transfer_retrieve(store: Store, call: Call) -> dict[str, Any]:
    return _with_reversals(store, store.get("transfer", call.args[0]))


def _with_reversals(store: Store, transfer: dict[str, Any]) -> dict[str, Any]:
    reversals = sorted(
        (r for r in store.objects["transfer_reversal"].values() if r["transfer"] == transfer["id"]),
        key=lambda r: r["_seq"],
        reverse=True,
    )
    transfer["reversals"]["data"] = [public(r) for r in reversals]
    transfer["reversals"]["total_count"] = len(reversals)
    return transfer


def transfer_list(store: Store, call: Call) -> dict[str, Any]:
    p = call.params
    filters = {key: p.str(key) for key in ("destination", "transfer_group")}
    for transfer in store.objects["transfer"].values():
        _with_reversals(store, transfer)
    return store.list_answer(
        "transfer",
        p,
        url="/v1/transfers",
        where=lambda transfer: all(
            value is None or transfer[key] == value for key, value in filters.items()
        ),
    )


def transfer_reversal_create(store: Store, call: Call) -> dict[str, Any]:
    p = Params(
        call.params.data, allowed={"amount", "metadata", "description", "refund_application_fee"}
    )
    transfer = store.get("transfer", call.args[0])
    left = transfer["amount"] - transfer["amount_reversed"]
    if left <= 0:
        raise StripeFailure(
            400,
            f"Transfer {transfer['id']} has already been reversed.",
            code="transfer_already_reversed",
        )
    amount = p.int("amount", left) or 0
    if amount > left:
        raise StripeFailure(
            400,
            f"Reversal amount ({amount}) is greater than the amount left on the transfer ({left}).",
            code="amount_too_large",
            param="amount",
        )
    if amount < 1:
        raise StripeFailure(400, "Amount must be positive", code="amount_too_small", param="amount")
    reversal_id = new_id("trr_")
    txn = store.balance_transaction(
        amount=amount, currency=transfer["currency"], type="transfer_refund", source=reversal_id
    )
    refund_id = new_id("pyr_")
    store.balance_transaction(
        amount=-amount,
        currency=transfer["currency"],
        type="payment_refund",
        source=refund_id,
        account=transfer["destination"],
    )
    reversal = store.add(
        "transfer_reversal",
        {
            "id": reversal_id,
            "amount": amount,
            "balance_transaction": txn["id"],
            "currency": transfer["currency"],
            "destination_payment_refund": refund_id,
            "metadata": p.metadata(),
            "source_refund": None,
            "transfer": transfer["id"],
        },
    )
    previous = transfer["amount_reversed"]
    transfer["amount_reversed"] += amount
    transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
    if transfer["source_transaction"]:
        source = store.get("charge", transfer["source_transaction"])
        source["_transferred"] -= amount
    store.emit(
        "transfer.reversed",
        _with_reversals(store, transfer),
        previous_attributes={"amount_reversed": previous},
    )
    return reversal


def transfer_reversal_list(store: Store, call: Call) -> dict[str, Any]:
    store.get("transfer", call.args[0])
    return store.list_answer(
        "transfer_reversal",
        call.params,
        url=f"/v1/transfers/{call.args[0]}/reversals",
        where=lambda reversal: reversal["transfer"] == call.args[0],
    )


# -- balance and payouts -----------------------------------------------------------------


def balance_retrieve(store: Store, call: Call) -> dict[str, Any]:
    currencies = sorted(
        {
            txn["currency"]
            for txn in store.objects["balance_transaction"].values()
            if txn["_account"] == call.account
        }
    )
    return {
        "object": "balance",
        "available": [
            {"amount": store.available(currency, account=call.account), "currency": currency}
            for currency in currencies
        ],
        "pending": [{"amount": 0, "currency": currency} for currency in currencies],
        "livemode": False,
    }


def balance_transaction_list(store: Store, call: Call) -> dict[str, Any]:
    p = call.params
    filters = {key: p.str(key) for key in ("type", "source", "currency")}
    return store.list_answer(
        "balance_transaction",
        p,
        url="/v1/balance_transactions",
        account=call.account,
        where=lambda txn: all(value is None or txn[key] == value for key, value in filters.items()),
    )


def balance_transaction_retrieve(store: Store, call: Call) -> dict[str, Any]:
    txn = store.get("balance_transaction", call.args[0])
    if txn["_account"] != call.account:
        raise StripeFailure(
            404,
            f"No such balance transaction: '{call.args[0]}'",
            code="resource_missing",
            param="id",
        )
    return txn


def payout_list(store: Store, call: Call) -> dict[str, Any]:
    return store.list_answer("payout", call.params, url="/v1/payouts", account=call.account)


def payout_settle(
    store: Store,
    account_id: str,
    *,
    amount: int | None,
    currency: str | None,
    failure_code: str | None,
) -> dict[str, Any]:
    """A payout from the connected account to its bank: paid, or failed (money comes back)."""
    account = store.get("account", account_id)
    currency = currency or account["default_currency"]
    if amount is None:
        amount = store.available(currency, account=account_id)
    if amount < 1:
        raise StripeFailure(400, "Nothing to pay out.", code="balance_insufficient")
    if not account["payouts_enabled"]:
        raise StripeFailure(
            400, "Payouts are not enabled for this account.", code="payouts_not_allowed"
        )
    payout_id = new_id("po_")
    store.balance_transaction(
        amount=-amount, currency=currency, type="payout", source=payout_id, account=account_id
    )
    payout = store.add(
        "payout",
        {
            "id": payout_id,
            "amount": amount,
            "arrival_date": store.now(),
            "currency": currency,
            "destination": "ba_standin",
            "failure_code": failure_code,
            "failure_message": "The bank account could not be found." if failure_code else None,
            "method": "standard",
            "status": "failed" if failure_code else "paid",
            "type": "bank_account",
        },
        account=account_id,
    )
    if failure_code:
        store.balance_transaction(
            amount=amount,
            currency=currency,
            type="payout_failure",
            source=payout_id,
            account=account_id,
        )
        store.emit("payout.failed", payout, account=account_id)
    else:
        store.emit("payout.paid", payout, account=account_id)
    return payout
