"""Every domain error a view's code can raise is declared on its operation, code and all.

The suite's other schema tests start from the schema: every documented 409 has a test
driving it (test_bad_input_everywhere), every answer the fuzzer sees is documented
(test_schema_fuzz). This one starts from the code: it reads each API view's method and
the functions of ours it calls (through module names, a few levels deep) for
``raise SomeApplicationError(...)``, and checks the operation documents that status and,
beyond the shared ``validation_error``, ``parse_error`` and ``not_found``, names the
error's ``code``. So a service that starts
raising a new 409 fails here even when no test reaches the state that raises it.
The reading is static and over-approximates; what it finds that cannot happen through
the API is listed in UNREACHABLE with the reason.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import textwrap
import types
from functools import cache
from typing import Any

from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator

from marketplace.api.errors import ApplicationError

OUR_APPS = {"couriers", "jobs", "payments", "marketplace"}
MAX_DEPTH = 6
# The shared errors whose description is generic (any field, any object): no code to name.
GENERIC = {(400, "validation_error"), (400, "parse_error"), (404, "not_found")}
# (operation, code) the reading finds that no request can reach, and why.
UNREACHABLE = {
    ("POST /api/v1/courier/offers/{offer_id}/accept/", "invalid_transition"): (
        "offer_accept locks the job and checks it is pending before job_transition"
    ),
    ("POST /api/v1/jobs/{id}/disputes/", "idempotency_key_reused"): (
        "the open action's key is made from the new dispute's id"
    ),
    ("POST /api/v1/jobs/{id}/disputes/", "invalid_dispute_state"): (
        "raised only when a new dispute's open action would be its second"
    ),
    ("POST /api/v1/courier/disputes/", "idempotency_key_reused"): (
        "the open action's key is made from the new dispute's id"
    ),
    ("POST /api/v1/courier/disputes/", "invalid_dispute_state"): (
        "raised only when a new dispute's open action would be its second"
    ),
    ("POST /api/v1/courier/disputes/", "amount_exceeds_charge"): (
        "a courier's dispute carries no claim, so no claim part can exceed the charge"
    ),
    ("POST /api/v1/courier/disputes/{id}/reply/", "idempotency_key_reused"): (
        "the reply action's key is made from the new message's id"
    ),
    ("POST /api/v1/sandbox/jobs/{id}/advance/", "pin_locked"): (
        "the robo courier enters the job's own PIN; a lock needs wrong ones"
    ),
    **{
        ("POST /api/v1/sandbox/jobs/{id}/advance/", code): (
            "the robo courier delivers at the delivery point with every proof, PIN and "
            "locker the job's option asks for (jobs.sandbox.services._deliver)"
        )
        for code in ("proof_required", "wrong_locker", "geofence_reason_required")
    },
}


def _resolve(node: ast.expr, namespace: dict[str, Any]) -> Any:
    """What a name or a dotted name (``services.job_cancel``) in a function refers to."""
    if isinstance(node, ast.Name):
        return namespace.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, namespace)
        if isinstance(base, types.ModuleType | type):
            return getattr(base, node.attr, None)
    return None


def _is_ours(function: types.FunctionType) -> bool:
    return (function.__module__ or "").split(".")[0] in OUR_APPS


def raised_errors(function: Any, seen: set[Any] | None = None, depth: int = 0) -> set[type]:
    """The ApplicationError classes ``function`` raises, or functions of ours it calls do."""
    seen = set() if seen is None else seen
    function = inspect.unwrap(function)
    if function in seen or depth > MAX_DEPTH or not isinstance(function, types.FunctionType):
        return set()
    seen.add(function)
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    namespace = function.__globals__
    found: set[type] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            error = _resolve(raised, namespace)
            if isinstance(error, type) and issubclass(error, ApplicationError):
                found.add(error)
        elif isinstance(node, ast.Call):
            called = _resolve(node.func, namespace)
            if isinstance(called, types.FunctionType) and _is_ours(called):
                found |= raised_errors(called, seen, depth + 1)
    return found


@cache
def _schema_paths() -> dict[str, Any]:
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(json.dumps(generated, default=str))["paths"]


def _api_handlers() -> list[tuple[str, Any]]:
    """(``METHOD /path/``, the view's handler) for every API operation, as the schema names it."""
    handlers = []
    for path, _pattern, method, view in EndpointEnumerator().get_api_endpoints():
        if not path.startswith("/api/v1/"):
            continue
        schema_path = re.sub(r"\{pk\}", "{id}", path)
        handlers.append((f"{method} {schema_path}", getattr(view.cls, method.lower())))
    return handlers


def _found() -> dict[tuple[str, str], tuple[int, str]]:
    """(operation, code) -> (status, description declared for it, or "" if none)."""
    paths = _schema_paths()
    found = {}
    for where, handler in _api_handlers():
        method, path = where.split(" ", 1)
        responses = paths[path][method.lower()]["responses"]
        for error in raised_errors(handler):
            declared = responses.get(str(error.status_code), {})
            found[(where, error.code)] = (error.status_code, declared.get("description", ""))
    return found


def test_every_raised_error_is_declared_with_its_code() -> None:
    missing = []
    for (where, code), (status, description) in sorted(_found().items()):
        if (where, code) in UNREACHABLE:
            continue
        if not description:
            missing.append(f"{where}: {status} `{code}` is not declared")
        elif (status, code) not in GENERIC and f"`{code}`" not in description:
            missing.append(f"{where}: {status} does not name `{code}`")

    assert missing == []


def test_what_is_left_out_is_still_found_so_the_list_stays_true() -> None:
    found = _found()

    assert [key for key in UNREACHABLE if key not in found] == []


def test_the_reading_follows_services_into_the_errors_they_raise() -> None:
    found = _found()

    # The view calls a service that calls job_transition, which raises it.
    assert found[("POST /api/v1/jobs/{id}/cancel/", "invalid_transition")][0] == 409
    # Through a module attribute (services.recipient_rate) and two levels of calls.
    assert found[("POST /api/v1/track/{token}/rating/", "already_rated")][0] == 409
    assert found[("POST /api/v1/quotes/", "outside_service_area")][0] == 422
    assert found[("POST /api/v1/jobs/{id}/tip/", "payment_declined")][0] == 402
