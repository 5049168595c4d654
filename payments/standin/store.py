"""The stand-in's state: objects by type, ids, its clock, balance transactions and events."""

from __future__ import annotations

import copy
import secrets
import string
import threading
import time
from collections.abc import Callable
from typing import Any

from payments.standin.forms import Params, StripeFailure

# The version stripe-python 16.1.0 pins (requests send it as Stripe-Version).
API_VERSION = "2026-10-28.endive"
_ID_ALPHABET = string.ascii_letters + string.digits

PREFIXES = {
    "account": "acct_",
    "balance_transaction": "txn_",
    "charge": "ch_",
    "customer": "cus_",
    "dispute": "dp_",
    "event": "evt_",
    "file": "file_",
    "payment": "py_",
    "payment_intent": "pi_",
    "payment_method": "pm_",
    "payout": "po_",
    "refund": "re_",
    "setup_intent": "seti_",
    "transfer": "tr_",
    "transfer_reversal": "trr_",
}
# An id's prefix names its type (for expansion and errors).
TYPE_BY_PREFIX = {prefix: kind for kind, prefix in PREFIXES.items()}


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(24))


def public(value: Any) -> Any:
    """A deep copy without the stand-in's own bookkeeping (keys starting with ``_``)."""
    if isinstance(value, dict):
        return {key: public(item) for key, item in value.items() if not key.startswith("_")}
    if isinstance(value, list):
        return [public(item) for item in value]
    return value


class Store:
    """Everything the stand-in knows. Callers hold ``lock`` around a whole request."""

    def __init__(
        self,
        *,
        fee_percent_bp: int = 150,
        fee_fixed_minor: int = 25,
        dispute_fee_minor: int = 2000,
        emit_hook: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.fee_percent_bp = fee_percent_bp
        self.fee_fixed_minor = fee_fixed_minor
        self.dispute_fee_minor = dispute_fee_minor
        self.emit_hook = emit_hook
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.objects: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in PREFIXES}
            self.idempotency: dict[tuple[str, str], dict[str, Any]] = {}
            self.account_links: dict[str, dict[str, Any]] = {}
            self.clock_offset = 0
            self._seq = 0
            # Which request is running (for events' ``request`` field).
            self.request_context: dict[str, Any] = {"id": None, "idempotency_key": None}

    # -- time and objects ------------------------------------------------------------------

    def now(self) -> int:
        return int(time.time()) + self.clock_offset

    def add(self, kind: str, obj: dict[str, Any], *, account: str | None = None) -> dict[str, Any]:
        self._seq += 1
        obj.setdefault("id", new_id(PREFIXES[kind]))
        obj.setdefault("object", kind)
        obj.setdefault("created", self.now())
        obj.setdefault("livemode", False)
        obj["_seq"] = self._seq
        obj["_account"] = account
        self.objects[kind][obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str | None, *, param: str = "id") -> dict[str, Any]:
        obj = self.objects[kind].get(object_id or "")
        if obj is None:
            label = kind.replace("_", " ")
            raise StripeFailure(
                404 if param == "id" else 400,
                f"No such {label}: '{object_id}'",
                code="resource_missing",
                param=param,
            )
        return obj

    def find(self, object_id: str) -> dict[str, Any] | None:
        for prefix, kind in TYPE_BY_PREFIX.items():
            if object_id.startswith(prefix):
                return self.objects[kind].get(object_id)
        return None

    # -- answers ---------------------------------------------------------------------------

    def render(self, obj: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        """The public JSON of ``obj`` with the ``expand`` paths replaced by their objects."""
        out = public(obj)
        for path in expand:
            self._expand(out, path.split("."))
        return out

    def _expand(self, node: Any, parts: list[str]) -> None:
        if not parts or not isinstance(node, dict):
            return
        head, rest = parts[0], parts[1:]
        value = node.get(head)
        if isinstance(value, str):
            target = self.find(value)
            if target is None:
                return
            value = node[head] = public(target)
        if isinstance(value, list):
            for item in value:
                self._expand(item, rest)
        else:
            self._expand(value, rest)

    def list_answer(
        self,
        kind: str,
        params: Params,
        *,
        url: str,
        where: Callable[[dict[str, Any]], bool] = lambda obj: True,
        account: str | None = None,
    ) -> dict[str, Any]:
        """Newest first, ``limit`` (1..100, default 10), ``starting_after``, ``ending_before``."""
        limit = params.int("limit", 10) or 10
        if not 1 <= limit <= 100:
            raise StripeFailure(
                400, "Invalid limit: must be between 1 and 100", code="parameter_invalid_integer"
            )
        bounds = params.created_filter()
        ops = {
            "eq": lambda a, b: a == b,
            "gt": lambda a, b: a > b,
            "gte": lambda a, b: a >= b,
            "lt": lambda a, b: a < b,
            "lte": lambda a, b: a <= b,
        }
        items = [
            obj
            for obj in self.objects[kind].values()
            if obj["_account"] == account
            and where(obj)
            and all(ops[op](obj["created"], bound) for op, bound in bounds.items())
        ]
        items.sort(key=lambda obj: obj["_seq"], reverse=True)
        after, before = params.str("starting_after"), params.str("ending_before")
        if after or before:
            ids = [obj["id"] for obj in items]
            cursor = after or before
            if cursor not in ids:
                raise StripeFailure(
                    400,
                    f"No such {kind.replace('_', ' ')}: '{cursor}'",
                    code="resource_missing",
                    param="starting_after" if after else "ending_before",
                )
            position = ids.index(cursor)
            after_or_before = (
                slice(position + 1, None) if after else slice(max(0, position - limit), position)
            )
            items = items[after_or_before]
        page = items[:limit]
        expand = [path.removeprefix("data.") for path in params.expand()]
        return {
            "object": "list",
            "data": [self.render(obj, expand) for obj in page],
            "has_more": len(items) > limit,
            "url": url,
        }

    # -- money -----------------------------------------------------------------------------

    def fee_for(self, amount: int) -> int:
        """Stripe's card fee: a percentage (basis points, rounded half up) plus a fixed part."""
        return (amount * self.fee_percent_bp + 5000) // 10000 + self.fee_fixed_minor

    def balance_transaction(
        self,
        *,
        amount: int,
        currency: str,
        type: str,
        source: str,
        fee: int = 0,
        account: str | None = None,
        description: str | None = None,
        reporting_category: str | None = None,
    ) -> dict[str, Any]:
        now = self.now()
        return self.add(
            "balance_transaction",
            {
                "amount": amount,
                "available_on": now,
                "currency": currency,
                "description": description,
                "exchange_rate": None,
                "fee": fee,
                "fee_details": (
                    [
                        {
                            "amount": fee,
                            "application": None,
                            "currency": currency,
                            "description": "Stripe processing fees",
                            "type": "stripe_fee",
                        }
                    ]
                    if fee
                    else []
                ),
                "net": amount - fee,
                "reporting_category": reporting_category or type,
                "source": source,
                "status": "available",
                "type": type,
            },
            account=account,
        )

    def available(self, currency: str, *, account: str | None = None) -> int:
        return sum(
            txn["net"]
            for txn in self.objects["balance_transaction"].values()
            if txn["_account"] == account and txn["currency"] == currency
        )

    # -- events ----------------------------------------------------------------------------

    def emit(
        self,
        type: str,
        obj: dict[str, Any],
        *,
        account: str | None = None,
        previous_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record an event (a snapshot of ``obj`` now) and hand it to the deliverer."""
        data: dict[str, Any] = {"object": public(obj)}
        if previous_attributes is not None:
            data["previous_attributes"] = copy.deepcopy(previous_attributes)
        event = self.add(
            "event",
            {
                "api_version": API_VERSION,
                "data": data,
                "pending_webhooks": 1,
                "request": dict(self.request_context),
                "type": type,
            },
        )
        if account is not None:
            event["account"] = account
        if self.emit_hook is not None:
            self.emit_hook(public(event))
        return event
