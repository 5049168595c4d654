"""The stand-in's transfers, transfer reversals, balances and payouts."""

from __future__ import annotations

from typing import Any

from payments.standin.forms import Call, Params, StripeFailure
from payments.standin.store import Store, new_id, public

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
