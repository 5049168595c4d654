"""The stand-in's HTTP side: routing, API keys, idempotency keys, test helpers, start/stop."""

from __future__ import annotations

import json
import logging
import re
import threading
import urllib.parse
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from payments.standin import accounts, charges, customers, disputes, refunds, transfers
from payments.standin.forms import Call, Params, StripeFailure, decode_form
from payments.standin.store import API_VERSION, PREFIXES, Store, new_id, public
from payments.standin.webhooks import Deliverer, Endpoint

logger = logging.getLogger(__name__)

Handler = Callable[[Store, Call], dict[str, Any]]
_ID = r"([A-Za-z0-9_]+)"
IDEMPOTENCY_KEY_TTL_SECONDS = 24 * 3600

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


class _Fault:
    """A planned failure for the next ``count`` matching API requests (tests of retries)."""

    def __init__(
        self, *, path: str, method: str, status: int, count: int, after_execute: bool
    ) -> None:
        self.path, self.method, self.status = path, method.upper(), status
        self.count, self.after_execute = count, after_execute

    def matches(self, method: str, path: str) -> bool:
        return self.count > 0 and method == self.method and path.startswith(self.path)


class StandinServer:
    """The Stripe stand-in on ``host:port`` (port 0 picks a free one).

    ``api_key``: the one secret key accepted (any ``sk_test_…`` when None). Webhook
    endpoints get every platform event (``webhook_url``) and every connected-account
    event (``connect_webhook_url``), signed with their secrets.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        connect_webhook_url: str | None = None,
        connect_webhook_secret: str | None = None,
        fee_percent_bp: int = 150,
        fee_fixed_minor: int = 25,
        dispute_fee_minor: int = 2000,
    ) -> None:
        self.host, self.port, self.api_key = host, port, api_key
        self.deliverer = Deliverer()
        self.store = Store(
            fee_percent_bp=fee_percent_bp,
            fee_fixed_minor=fee_fixed_minor,
            dispute_fee_minor=dispute_fee_minor,
            emit_hook=self.deliverer.enqueue,
        )
        if webhook_url:
            self.add_endpoint(webhook_url, webhook_secret or "", connect=False)
        if connect_webhook_url:
            self.add_endpoint(connect_webhook_url, connect_webhook_secret or "", connect=True)
        self.faults: list[_Fault] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        """Serve in a background thread; returns the base URL (``STRIPE_API_BASE``)."""
        server = self

        class _Handler(RequestHandler):
            standin = server

        self._httpd = ThreadingHTTPServer((self.host, self.port), _Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="standin-http", daemon=True
        )
        self._thread.start()
        self.deliverer.start()
        return self.base_url

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        self.deliverer.stop()

    def wait(self) -> None:
        """Block while serving (the management command); stop() ends it."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def add_endpoint(self, url: str, secret: str, *, connect: bool) -> None:
        self.deliverer.endpoints.append(Endpoint(url=url, secret=secret, connect=connect))

    def reset(self) -> None:
        """Forget every object, idempotency key, event and delivery (endpoints stay)."""
        with self.store.lock:
            self.store.reset()
            self.faults.clear()
            self.deliverer.clear()

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        return self.deliverer.wait_idle(timeout)

    # -- request handling (called by RequestHandler) -----------------------------------------

    def handle_api(
        self,
        *,
        method: str,
        path: str,
        params: dict[str, Any],
        headers: dict[str, str],
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        request_id = new_id("req_")
        out_headers = {"Request-Id": request_id, "Stripe-Version": API_VERSION}
        key = self._api_key(headers.get("authorization", ""))
        account = headers.get("stripe-account") or None
        idempotency_key = headers.get("idempotency-key") if method == "POST" else None
        if idempotency_key:
            out_headers["Idempotency-Key"] = idempotency_key
        handler, args = _route(method, path)
        with self.store.lock:
            fault = next((f for f in self.faults if f.matches(method, path)), None)
            if fault is not None:
                fault.count -= 1
                if not fault.after_execute:
                    raise _fault_failure(fault)
            fingerprint = json.dumps([method, path, params], sort_keys=True)
            scope = (f"{key}|{account or ''}", idempotency_key or "")
            saved = self.store.idempotency.get(scope) if idempotency_key else None
            if saved is not None and saved["at"] < self.store.now() - IDEMPOTENCY_KEY_TTL_SECONDS:
                saved = None  # Stripe forgets a key after 24 hours.
            if saved is not None:
                if saved["fingerprint"] != fingerprint:
                    raise StripeFailure(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters "
                        "they were first used with. Try using a key other than "
                        f"'{idempotency_key}' if you meant to execute a different request.",
                        type="idempotency_error",
                    )
                out_headers["Idempotent-Replayed"] = "true"
                out_headers["Original-Request"] = saved["request_id"]
                return saved["status"], saved["body"], out_headers
            self.store.request_context = {"id": request_id, "idempotency_key": idempotency_key}
            call = Call(
                params=Params(params),
                args=args,
                account=account,
                base_url=self.base_url,
            )
            try:
                charges.expire_holds(self.store)
                obj = handler(self.store, call)
                status, body = 200, self.store.render(obj, call.params.expand())
            except StripeFailure as failure:
                status, body = failure.status, {"error": failure.body}
            finally:
                self.store.request_context = {"id": None, "idempotency_key": None}
            # Stripe keeps the result once the request started executing; parameter and
            # lookup errors (400/404) are not kept, so a corrected retry can reuse the key.
            if idempotency_key and status not in (400, 404):
                self.store.idempotency[scope] = {
                    "fingerprint": fingerprint,
                    "status": status,
                    "body": body,
                    "request_id": request_id,
                    "at": self.store.now(),
                }
            if fault is not None:
                raise _fault_failure(fault)
        return status, body, out_headers

    def _api_key(self, authorization: str) -> str:
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key:
            raise StripeFailure(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth.",
            )
        if not key.startswith("sk_test_") or (self.api_key is not None and key != self.api_key):
            raise StripeFailure(401, f"Invalid API Key provided: {key[:12]}…")
        return key

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


def _route(method: str, path: str) -> tuple[Handler, tuple[str, ...]]:
    for route_method, pattern, handler in ROUTES:
        match = pattern.match(path)
        if match and route_method == method:
            return handler, match.groups()
    raise StripeFailure(404, f"Unrecognized request URL ({method}: {path}).")


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true", "yes", "on")


def _fault_failure(fault: _Fault) -> StripeFailure:
    if fault.status == 429:
        return StripeFailure(429, "Too many requests (stand-in fault).", code="rate_limit")
    return StripeFailure(
        fault.status, "The stand-in failed this request on purpose.", type="api_error"
    )


class RequestHandler(BaseHTTPRequestHandler):
    standin: StandinServer
    server_version = "StripeStandin/1.0"
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes; without this, delayed ACKs stall each
    # keep-alive request by ~40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("stand-in: " + format, *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        try:
            if url.path.startswith("/_standin/"):
                status, body, extra = self.standin.handle_helper(
                    method=method, path=url.path, body=self._helper_body(raw, url.query)
                )
            else:
                pairs = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
                if raw:
                    pairs += urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True)
                status, body, extra = self.standin.handle_api(
                    method=method,
                    path=url.path.rstrip("/"),
                    params=decode_form(pairs),
                    headers=headers,
                )
        except StripeFailure as failure:
            status, body, extra = failure.status, {"error": failure.body}, {}
        except (KeyError, ValueError, json.JSONDecodeError) as exc:
            status, body, extra = (
                400,
                {"error": {"type": "invalid_request_error", "message": f"bad request: {exc!r}"}},
                {},
            )
        payload = json.dumps(body, indent=2).encode()
        self.send_response(
            status, HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else None
        )
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    @staticmethod
    def _helper_body(raw: bytes, query: str) -> dict[str, Any]:
        body: dict[str, Any] = dict(urllib.parse.parse_qsl(query))
        if raw.strip():
            text = raw.decode()
            if text.lstrip().startswith("{"):
                body.update(json.loads(text))
            else:
                body.update(urllib.parse.parse_qsl(text, keep_blank_values=True))
        return body
