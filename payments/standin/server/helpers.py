"""The stand-in's ``/_standin/`` test helpers: reset, objects, clock, faults, disputes."""

from __future__ import annotations

from typing import Any

from payments.standin import accounts, charges, disputes, transfers
from payments.standin.forms import StripeFailure
from payments.standin.server.api import _Fault
from payments.standin.store import PREFIXES, public


class HelperRequests:
    """``StandinServer``'s handling of the ``/_standin/`` routes."""

    def handle_helper(
        self, *, method: str, path: str, body: dict[str, Any]
    ) -> tuple[int, Any, dict[str, str]]:
        """The ``/_standin/`` routes: test controls the gateway never calls."""
        store = self.store
        parts = path.strip("/").split("/")[1:]
        with store.lock:
            if method == "GET" and parts == ["health"]:
                return 200, {"ok": True, "standin": True}, {}
            if method == "GET" and len(parts) == 2 and parts[0] == "onboard":
                location = accounts.account_link_open(store, parts[1])
                return 302, {"redirect": location}, {"Location": location}
            if method == "POST" and parts == ["reset"]:
                self.reset()
                return 200, {"ok": True}, {}
            if method == "GET" and len(parts) == 2 and parts[0] == "objects":
                if parts[1] not in PREFIXES:
                    raise StripeFailure(404, f"unknown object type {parts[1]}")
                items = sorted(store.objects[parts[1]].values(), key=lambda o: o["_seq"])
                return 200, {"data": [public(item) for item in items]}, {}
            if method == "GET" and parts == ["deliveries"]:
                return (
                    200,
                    {"data": list(self.deliverer.records), "pending": self.deliverer.pending()},
                    {},
                )
            if parts == ["webhooks"]:
                if method == "DELETE" or body.get("replace"):
                    self.deliverer.endpoints.clear()
                if method == "POST":
                    self.add_endpoint(
                        str(body["url"]), str(body["secret"]), connect=bool(body.get("connect"))
                    )
                return 200, {"data": [vars(endpoint) for endpoint in self.deliverer.endpoints]}, {}
            if method == "POST" and parts == ["clock"]:
                store.clock_offset += int(body.get("advance_seconds", 0))
                charges.expire_holds(store)
                return 200, {"now": store.now()}, {}
            if method == "POST" and parts == ["faults"]:
                self.faults.append(
                    _Fault(
                        path=str(body["path"]),
                        method=str(body.get("method", "POST")),
                        status=int(body.get("status", 500)),
                        count=int(body.get("count", 1)),
                        after_execute=bool(body.get("after_execute", False)),
                    )
                )
                return 200, {"ok": True}, {}
            if (
                method == "POST"
                and len(parts) == 3
                and parts[0] == "events"
                and parts[2] == "resend"
            ):
                event = store.get("event", parts[1])
                self.deliverer.enqueue(public(event))
                return 200, public(event), {}
            if method == "POST" and len(parts) == 3 and parts[0] == "accounts":
                account = store.get("account", parts[1])
                if parts[2] == "payouts_enabled":
                    accounts.account_set_payouts(
                        store, account, enabled=_truthy(body.get("enabled", True))
                    )
                    return 200, public(account), {}
                if parts[2] == "onboard":
                    accounts.account_onboard(store, account)
                    return 200, public(account), {}
                if parts[2] == "payouts":
                    payout = transfers.payout_settle(
                        store,
                        account["id"],
                        amount=int(body["amount"]) if body.get("amount") is not None else None,
                        currency=body.get("currency"),
                        failure_code=body.get("failure_code") or None,
                    )
                    return 200, public(payout), {}
            if (
                method == "POST"
                and len(parts) == 3
                and parts[0] == "charges"
                and parts[2] == "dispute"
            ):
                dispute = disputes.dispute_open(
                    store,
                    parts[1],
                    amount=int(body["amount"]) if body.get("amount") is not None else None,
                    reason=str(body.get("reason", "fraudulent")),
                )
                return 200, public(dispute), {}
            if (
                method == "POST"
                and len(parts) == 3
                and parts[0] == "disputes"
                and parts[2] == "close"
            ):
                dispute = disputes.dispute_close(
                    store, parts[1], outcome=str(body.get("outcome", ""))
                )
                return 200, public(dispute), {}
        raise StripeFailure(404, f"Unknown stand-in helper: {method} {path}")


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true", "yes", "on")
