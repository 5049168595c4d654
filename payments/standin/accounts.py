"""The stand-in's Connect accounts (Express) and their onboarding links."""

from __future__ import annotations

import secrets
from typing import Any

from payments.standin.forms import Call, Params, StripeFailure
from payments.standin.store import Store

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
