"""OpenAPI generation: component names, and the error responses every operation documents.

The ``add_error_responses`` hook gives each operation the errors its shape implies
(400/413/415 for a body, 400 for query parameters, 404 for path parameters and pages,
401/403 for authenticated operations, 429 everywhere). What only the view knows, a 409
code or a 422, the view declares with ``error_responses({409: "...", 422: "..."})``.
It also attaches the OpenAPI links of ``marketplace.api.links`` and states what text fields
refuse (NUL anywhere; blank text where the field trims it).
"""

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from marketplace.api.links import add_links


class AutoSchema(SpectacularAutoSchema):
    def get_serializer_name(self, serializer: Any, direction: str) -> str:
        """``ShopRegisterApi.InputSerializer`` becomes ``ShopRegisterInput``, not ``Input``."""
        qualname = type(serializer).__qualname__
        if "." not in qualname:
            return super().get_serializer_name(serializer, direction)
        outer, inner = qualname.split(".")[0], qualname.split(".")[-1]
        return outer.removesuffix("Api") + inner.removesuffix("Serializer")


ERROR_SCHEMA = {
    "type": "object",
    "description": "Every API error has this shape.",
    "properties": {
        "code": {"type": "string", "description": "Stable, machine-readable error code."},
        "message": {"type": "string", "description": "For people; names the fields at fault."},
        "fields": {
            "type": "object",
            "additionalProperties": True,
            "description": "Field name → list of messages (nested for nested objects).",
        },
    },
    "required": ["code", "message", "fields"],
}

_ERRORS_BY_STATUS = {
    "400": "Invalid input (`validation_error`, `parse_error`, …); `fields` names the culprits.",
    "401": "Missing or invalid token (`not_authenticated`, `authentication_failed`).",
    "403": "The account's role may not use this endpoint (`permission_denied`).",
    "404": "No such object, or it is someone else's (`not_found`); also a page past the last.",
    "413": "The request body is too large.",
    "415": "The body is not JSON (`unsupported_media_type`).",
    "429": "Too many requests (`throttled`); see Retry-After.",
}
_BODY_METHODS = {"post", "put", "patch"}


class ErrorSerializer(serializers.Serializer):
    """The ``Error`` component (the hook replaces its generated schema with ERROR_SCHEMA)."""

    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField()


def error_responses(descriptions: dict[int, str]) -> dict[int, OpenApiResponse]:
    """Responses for ``extend_schema``: each status answers an ``Error`` described so."""
    return {
        status: OpenApiResponse(response=ErrorSerializer, description=description)
        for status, description in descriptions.items()
    }


def _standard_statuses(method: str, operation: dict) -> list[str]:
    parameters = operation.get("parameters", [])
    statuses = ["429"]
    if method in _BODY_METHODS:
        statuses += ["400", "413", "415"]
    elif any(parameter["in"] == "query" for parameter in parameters):
        statuses.append("400")
    if any(parameter["in"] == "path" or parameter["name"] == "page" for parameter in parameters):
        statuses.append("404")
    # [{}] or no "security" means anonymous access is allowed.
    if any(operation.get("security", [])):
        statuses += ["401", "403"]
    return statuses


# PostgreSQL text cannot hold NUL, and DRF's CharField refuses it (400 naming the field):
# every free-text string a request sends says so, as a pattern.
NO_NUL_PATTERN = "^[^\\u0000]*$"
# What Python's str.strip() removes (every character whose isspace() is true), spelled out:
# ECMA-262's \s is another set (it has U+FEFF, not U+001C-U+001F or U+0085).
PYTHON_WHITESPACE = (
    "\\u0009-\\u000d\\u001c-\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a"
    "\\u2028\\u2029\\u202f\\u205f\\u3000"
)
# A trimmed text field that may not be blank: one character that is not whitespace, no NUL.
NOT_BLANK_PATTERN = f"^[^\\u0000]*[^\\u0000{PYTHON_WHITESPACE}][^\\u0000]*$"


class StrictCharFieldExtension(OpenApiSerializerFieldExtension):
    """A trimmed ``StrictCharField`` that refuses blank text says so: not only whitespace.

    DRF trims the text, then refuses it when nothing is left ("This field may not be
    blank."), so ``"  "`` is refused though it has the ``minLength: 1`` drf-spectacular
    writes. Fields with a pattern of their own (usernames) or that keep whitespace
    (passwords) are left as they are.
    """

    target_class = "marketplace.api.fields.StrictCharField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        field = self.target
        schema = auto_schema._map_serializer_field(field, direction, bypass_extensions=True)
        refuses_blank = field.trim_whitespace and not field.allow_blank
        if (
            direction == "request"
            and refuses_blank
            and not {"pattern", "format", "enum"} & set(schema)
        ):
            schema["pattern"] = NOT_BLANK_PATTERN
        return schema


def _refs_in(node: Any) -> set[str]:
    """The component names a schema fragment refers to."""
    if isinstance(node, dict):
        found = set()
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            found |= _refs_in(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs_in(value) for value in node)) if node else set()
    return set()


def _forbid_nul(node: Any) -> None:
    if isinstance(node, dict):
        is_free_text = node.get("type") == "string" and not (
            {"pattern", "format", "enum"} & node.keys()
        )
        if is_free_text:
            node["pattern"] = NO_NUL_PATTERN
        for value in node.values():
            _forbid_nul(value)
    elif isinstance(node, list):
        for value in node:
            _forbid_nul(value)


def forbid_nul_in_request_text(result: dict) -> None:
    """Give every free-text string of a request body the no-NUL pattern."""
    components = result.get("components", {}).get("schemas", {})
    pending: set[str] = set()
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if body:
                _forbid_nul(body)
                pending |= _refs_in(body)
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen or name not in components:
            continue
        seen.add(name)
        _forbid_nul(components[name])
        pending |= _refs_in(components[name])


def add_error_responses(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular postprocessing hook: document the error responses every view shares."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            for status in _standard_statuses(method, operation):
                operation["responses"].setdefault(
                    status, {"description": _ERRORS_BY_STATUS[status], "content": reference}
                )
    forbid_nul_in_request_text(result)
    add_links(result)
    return result
