"""The stand-in's API requests: API keys, idempotency keys and planned faults."""

from __future__ import annotations

import json
from typing import Any

from payments.standin import charges
from payments.standin.forms import Call, Params, StripeFailure, Upload
from payments.standin.server.routes import _route
from payments.standin.store import API_VERSION, new_id

IDEMPOTENCY_KEY_TTL_SECONDS = 24 * 3600


class _Fault:
    """A planned failure for the next ``count`` matching API requests (tests of retries)."""

    def __init__(
        self, *, path: str, method: str, status: int, count: int, after_execute: bool
    ) -> None:
        self.path, self.method, self.status = path, method.upper(), status
        self.count, self.after_execute = count, after_execute

    def matches(self, method: str, path: str) -> bool:
        return self.count > 0 and method == self.method and path.startswith(self.path)


class ApiRequests:
    """``StandinServer``'s handling of ``/v1/`` requests."""

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
            fingerprint = json.dumps([method, path, params], sort_keys=True, default=_fingerprint)
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


def _fault_failure(fault: _Fault) -> StripeFailure:
    if fault.status == 429:
        return StripeFailure(429, "Too many requests (stand-in fault).", code="rate_limit")
    return StripeFailure(
        fault.status, "The stand-in failed this request on purpose.", type="api_error"
    )


def _fingerprint(value: Any) -> str:
    """An upload in an idempotency fingerprint: a retry must send the same bytes."""
    if isinstance(value, Upload):
        return value.fingerprint()
    raise TypeError(f"cannot fingerprint {type(value).__name__}")
