"""A few schemathesis cases per operation and caller, in-process, with every check.

``./dev fuzz`` is the long run; this is the fast guard in the suite: every operation in
``/api/schema/`` answers, as anonymous, shop and courier, a handful of valid and invalid
requests only with documented statuses and bodies that match their schemas. Cases are
derandomized (the same ones every run), each runs in its own rolled-back transaction with
empty throttles, and the checks use ``scripts/schemathesis.toml`` like ``./dev fuzz``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.core.cache import cache as django_cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

# Importing it registers the hooks ./dev fuzz runs with (what JSON Schema cannot state).
from scripts.schemathesis_hooks import integers_fit_in_64_bits
from tests.factories import CourierFactory, ServiceZoneFactory, ShopUserFactory

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
CONFIG = SCRIPTS / "schemathesis.toml"
# Cases per operation, caller and mode (valid data, then invalid data).
EXAMPLES = 2
IDENTITIES = ["anonymous", "shop", "courier"]


def _openapi() -> dict[str, Any]:
    """The schema /api/schema/ serves, as plain JSON."""
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(json.dumps(generated, default=str))


OPENAPI = _openapi()
OPERATIONS = [
    (method.upper(), path) for path, operations in OPENAPI["paths"].items() for method in operations
]


@cache
def _schema() -> Any:
    config = SchemathesisConfig.from_path(CONFIG)
    # Every check, as `./dev fuzz` runs them, but no timing: time never decides a test.
    config.projects.default.checks.update(
        included_check_names=["all"], excluded_check_names=["max_response_time"]
    )
    schema = schemathesis.openapi.from_dict(OPENAPI, config=config)
    schema.app = get_wsgi_application()
    return schema


def _can_be_invalid(operation: dict[str, Any]) -> bool:
    """False when every input is a free-form string (``track/{token}/``): nothing to violate."""
    parameters = operation.get("parameters", [])
    return "requestBody" in operation or any(
        parameter["schema"] != {"type": "string"} for parameter in parameters
    )


@pytest.fixture
def same_connection() -> Iterator[None]:
    """Requests share the test's connection and transaction, as Django's test client does."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def _headers(identity: str) -> dict[str, str]:
    """The caller's Authorization header (a new shop with a card, or a new courier)."""
    if identity == "anonymous":
        return {}
    user = ShopUserFactory() if identity == "shop" else CourierFactory().user
    return {"Authorization": f"Token {user.auth_token.key}"}


@pytest.mark.django_db
@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_the_operation_answers_as_its_schema_says(
    standin: Any, same_connection: None, identity: str, method: str, path: str
) -> None:
    ServiceZoneFactory(name="Berlin")
    operation = _schema()[path][method]
    headers = _headers(identity)
    statuses: list[int] = []

    def run(mode: GenerationMode) -> None:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def answers_as_documented(case: Any) -> None:
            django_cache.clear()
            with transaction.atomic():
                try:
                    statuses.append(case.call_and_validate(headers=headers).status_code)
                finally:
                    transaction.set_rollback(True)

        answers_as_documented()

    run(GenerationMode.POSITIVE)
    # A caller the operation is not for is refused before its input is read: once is enough.
    if set(statuses) <= {401, 403} or not _can_be_invalid(OPENAPI["paths"][path][method.lower()]):
        return
    run(GenerationMode.NEGATIVE)


def test_the_fuzzers_hook_drops_only_bodies_the_parser_refuses_anywhere() -> None:
    from marketplace import jsonsafe

    fits = [{"n": 2**63 - 1, "m": -(2**63)}, [True, 1.5e21, "9" * 30], {"a": [{"b": [0]}]}]
    too_wide = [{"n": 2**63}, {"extra": [1, {"deep": -(2**63) - 1}]}, [2**70]]

    for body in fits:
        assert integers_fit_in_64_bits(body)
        assert jsonsafe.loads(json.dumps(body)) == body
    for body in too_wide:
        assert not integers_fit_in_64_bits(body)
        with pytest.raises(jsonsafe.JSONRejected):
            jsonsafe.loads(json.dumps(body))


@pytest.mark.django_db
def test_the_fuzzer_reads_field_messages_under_fields(same_connection: None) -> None:
    from schemathesis.core.error_feedback import ObservationKind
    from schemathesis.core.error_feedback.collector import parse_observations
    from schemathesis.core.parameters import ParameterLocation

    operation = _schema()["/api/v1/auth/register/courier/"]["POST"]
    case = operation.Case(
        body={"username": "ann", "password": "a-long-password-1", "first_name": "Ann"},
        media_type="application/json",
    )
    response = case.call()
    observations = parse_observations(operation=operation, case=case, response=response)

    assert response.status_code == 400
    assert response.json()["fields"] == {"vehicle": ["This field is required."]}
    # Read as a bare DRF error, the path was ("fields", "vehicle"): a rule for a property
    # named "fields", which the fuzzer then sent (ST201 on courier sign-up).
    assert [(o.location, o.parameter_path, o.kind) for o in observations] == [
        (ParameterLocation.BODY, ("vehicle",), ObservationKind.MUST_NOT_BE_BLANK)
    ]
