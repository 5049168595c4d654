"""The exception handler maps domain and Django errors to the one error shape."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from marketplace.api.errors import ConflictError, InvalidTransition, exception_handler


@pytest.mark.parametrize(
    ("exc", "status", "body"),
    [
        (
            InvalidTransition(),
            409,
            {
                "code": "invalid_transition",
                "message": "This state change is not allowed from the current state.",
                "fields": {},
            },
        ),
        (
            ConflictError("Already taken.", fields={"offer": ["Withdrawn."]}),
            409,
            {"code": "conflict", "message": "Already taken.", "fields": {"offer": ["Withdrawn."]}},
        ),
        (Http404(), 404, {"code": "not_found", "message": "Not found.", "fields": {}}),
        (
            PermissionDenied(),
            403,
            {
                "code": "permission_denied",
                "message": "You do not have permission to perform this action.",
                "fields": {},
            },
        ),
        (
            ValidationError({"email": ["Bad."]}),
            400,
            {
                "code": "validation_error",
                "message": "Invalid input. email: Bad.",
                "fields": {"email": ["Bad."]},
            },
        ),
        (
            ValidationError("Whole body is wrong."),
            400,
            {
                "code": "validation_error",
                "message": "Invalid input. non_field_errors: Whole body is wrong.",
                "fields": {"non_field_errors": ["Whole body is wrong."]},
            },
        ),
    ],
)
def test_errors_map_to_status_and_shape(exc: Exception, status: int, body: dict) -> None:
    response = exception_handler(exc, {})

    assert response is not None
    assert response.status_code == status
    assert response.data == body


def test_unexpected_exceptions_are_left_to_django_as_500s() -> None:
    assert exception_handler(KeyError("bug"), {}) is None
