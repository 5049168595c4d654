"""The schema's OpenAPI links lead somewhere real: operations, parameters, answer properties.

A link names an operation by operationId, its parameters by name, and where their values
come from by a runtime expression (``$response.body#/id``). None of that is checked by
drf-spectacular; schemathesis finds a broken one only when its stateful phase gets there.
These tests fail instead, as soon as an operation, a parameter or a field is renamed.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from marketplace.api.links import LINKS

# Operations that take an id no answer to a fuzzed caller names: a tracking photo (the
# tracking answer's proof is free-form), and the PIN unlock (staff only; the fuzzer has
# shop, courier and anonymous callers).
NOT_LINKED = {"tracking_photo", "v1_jobs_pin_unlock_create"}


@cache
def _openapi() -> dict[str, Any]:
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(json.dumps(generated, default=str))


def _operations() -> dict[str, dict[str, Any]]:
    return {
        operation["operationId"]: operation
        for operations in _openapi()["paths"].values()
        for operation in operations.values()
    }


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` and drf-spectacular's one-branch ``allOf`` (a nullable reference)."""
    components = _openapi()["components"]["schemas"]
    while True:
        if "$ref" in schema:
            schema = components[schema["$ref"].rsplit("/", 1)[1]]
        elif len(schema.get("allOf", [])) == 1:
            schema = schema["allOf"][0]
        else:
            return schema


def _at_pointer(schema: dict[str, Any], pointer: str) -> dict[str, Any] | None:
    """The schema of the value at a JSON pointer into an answer, or None if none is declared."""
    for token in pointer.lstrip("/").split("/") if pointer else []:
        schema = _resolve(schema)
        if schema.get("type") == "array" and token.isdigit():
            schema = schema["items"]
        elif token in schema.get("properties", {}):
            schema = schema["properties"][token]
        else:
            return None
    return _resolve(schema)


def _answer_schema(operation_id: str, status: str) -> dict[str, Any]:
    response = _operations()[operation_id]["responses"][status]
    return response["content"]["application/json"]["schema"]


def _request_body_properties(operation: dict[str, Any]) -> dict[str, Any]:
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    return _resolve(body)["properties"]


def _every_link() -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (operation_id, status, name, link)
        for (operation_id, status), links in LINKS.items()
        for name, link in links.items()
    ]


def test_every_row_starts_from_a_documented_answer_and_is_attached_to_it() -> None:
    operations = _operations()

    for (operation_id, status), links in LINKS.items():
        assert operation_id in operations, operation_id
        assert status in operations[operation_id]["responses"], (operation_id, status)
        assert operations[operation_id]["responses"][status]["links"] == links


@pytest.mark.parametrize(
    ("source", "status", "name", "link"),
    _every_link(),
    ids=[f"{source} {status} {name}" for source, status, name, _ in _every_link()],
)
def test_the_link_names_a_real_operation_parameters_and_answer_fields(
    source: str, status: str, name: str, link: dict[str, Any]
) -> None:
    target = _operations().get(link["operationId"])
    assert target is not None, f"no operation {link['operationId']}"
    answer = _answer_schema(source, status)
    parameters = {p["name"]: p for p in target.get("parameters", [])}
    values = [(parameters.get(n), e) for n, e in link.get("parameters", {}).items()]
    body = _request_body_properties(target) if "requestBody" in link else {}
    values += [(body.get(n), e) for n, e in link.get("requestBody", {}).items()]

    assert values, "a link passes at least one value"
    # Every path parameter of the target comes from the answer.
    path_parameters = {n for n, p in parameters.items() if p["in"] == "path"}
    assert path_parameters <= set(link.get("parameters", {}))
    for declared, expression in values:
        assert declared is not None, f"{link['operationId']} takes no {expression}'s parameter"
        target_schema = _resolve(declared.get("schema", declared))
        assert expression.startswith("$response.body#"), expression
        source_schema = _at_pointer(answer, expression.removeprefix("$response.body#"))
        assert source_schema is not None, f"{source} {status} has nothing at {expression}"
        assert source_schema.get("type") == target_schema.get("type") == "string"
        assert source_schema.get("format") == target_schema.get("format")


def test_every_operation_that_takes_an_id_is_reached_by_a_link() -> None:
    targets = {link["operationId"] for _, _, _, link in _every_link()}
    taking_ids = {
        operation_id
        for operation_id, operation in _operations().items()
        if any(p["in"] == "path" for p in operation.get("parameters", []))
    }

    assert taking_ids - NOT_LINKED - targets == set()
    assert taking_ids >= NOT_LINKED
    assert len(_every_link()) > 100


def test_a_pointer_into_an_answer_is_checked_against_its_properties() -> None:
    job = _answer_schema("job_create", "201")
    page = _answer_schema("job_list", "200")

    assert _at_pointer(job, "/tracking_token")["type"] == "string"
    assert _at_pointer(job, "/tracking_tokens") is None
    assert _at_pointer(page, "/results/0/id")["format"] == "uuid"
    assert _at_pointer(page, "/results/id") is None
