"""Domain errors and the one exception handler that renders every API error the same way.

Every error response is ``{"code": str, "message": str, "fields": {...}}``: ``code`` is
stable and machine-readable, ``message`` is for people and names the offending fields,
``fields`` maps field names to lists of messages (empty when no field is to blame).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback


class ApplicationError(Exception):
    """A business rule said no. Subclasses set ``code`` and ``status_code``."""

    code = "application_error"
    status_code = status.HTTP_400_BAD_REQUEST
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, fields: dict[str, Any] | None = None) -> None:
        self.message = message or self.default_message
        self.fields = fields or {}
        super().__init__(self.message)


class NotFoundError(ApplicationError):
    """No such object, or it is someone else's: the same answer either way (HTTP 404)."""

    code = "not_found"
    status_code = status.HTTP_404_NOT_FOUND
    default_message = "Not found."


class ConflictError(ApplicationError):
    """The object is not in a state that allows this (HTTP 409)."""

    code = "conflict"
    status_code = status.HTTP_409_CONFLICT
    default_message = "The object's current state does not allow this."


class InvalidTransition(ConflictError):
    code = "invalid_transition"
    default_message = "This state change is not allowed from the current state."


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "fields": fields or {}}


def _flatten_codes(codes: Any) -> str:
    """The first error code in DRF's nested get_codes() output."""
    while isinstance(codes, dict | list):
        if not codes:
            return "invalid"
        codes = next(iter(codes.values())) if isinstance(codes, dict) else codes[0]
    return str(codes)


def _validation_message(fields: dict[str, Any]) -> str:
    def first(messages: Any) -> str:
        while isinstance(messages, dict | list) and messages:
            messages = next(iter(messages.values())) if isinstance(messages, dict) else messages[0]
        return str(messages)

    if not fields:
        return "Invalid input."
    parts = [f"{name}: {first(messages)}" for name, messages in fields.items()]
    return "Invalid input. " + " ".join(parts)


def _validation_fields(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return detail
    # A list of errors about the body as a whole.
    return {"non_field_errors": detail if isinstance(detail, list) else [detail]}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: map domain and framework errors to one JSON shape."""
    headers: dict[str, str] = {}

    if isinstance(exc, ApplicationError):
        set_rollback()
        return Response(
            error_body(exc.code, exc.message, exc.fields), status=exc.status_code, headers=headers
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )

    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: let Django log it and answer 500

    if isinstance(exc, exceptions.ValidationError):
        fields = _validation_fields(exc.detail)
        body = error_body("validation_error", _validation_message(fields), fields)
    else:
        code = _flatten_codes(exc.get_codes())
        message = str(exc.detail) if not isinstance(exc.detail, dict | list) else exc.default_detail
        body = error_body(code, str(message))

    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)
