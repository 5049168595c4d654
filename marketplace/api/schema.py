"""OpenAPI generation tweaks: unique component names for views' nested serializers."""

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


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
    "400": "Invalid input (`validation_error`, `parse_error`, …).",
    "401": "Missing or invalid token.",
    "403": "The account's role may not use this endpoint.",
    "413": "The request body is too large.",
    "415": "The body is not JSON.",
    "429": "Too many requests; see Retry-After.",
}


def add_error_responses(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular postprocessing hook: document the common error responses."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            statuses = ["429"]
            if method in {"post", "put", "patch"}:
                statuses += ["400", "413", "415"]
            # [{}] or no "security" means anonymous access is allowed.
            if any(operation.get("security", [])):
                statuses += ["401", "403"]
            for status in statuses:
                operation["responses"].setdefault(
                    status, {"description": _ERRORS_BY_STATUS[status], "content": reference}
                )
    return result
