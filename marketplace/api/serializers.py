"""Serializers more than one endpoint shares: credentials, users, shops."""

from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from marketplace.api.fields import (
    EmailOrEmptyField,
    LatLngField,
    StrictCharField,
    URLOrEmptyField,
)


class CredentialsSerializer(serializers.Serializer):
    """Username and password as sent at sign-up and sign-in."""

    username = StrictCharField(
        max_length=150,
        validators=[
            RegexValidator(r"^[\w.@+-]+\Z", "Use letters, digits and @ . + - _ only."),
        ],
    )
    password = StrictCharField(max_length=128, write_only=True, trim_whitespace=False)


@extend_schema_field(
    {
        "type": "string",
        "minLength": 8,
        "maxLength": 128,
        # Not only digits, and no NUL (as every text field): ECMA-262 and Python alike.
        "pattern": r"^[^\u0000]*[^\d\u0000][^\u0000]*$",
        "writeOnly": True,
        "description": (
            "At least 8 characters, not only digits, not too like the username, e-mail or "
            "name, and not a commonly used password; otherwise 400 `validation_error` "
            "listing every reason."
        ),
    }
)
class NewPasswordField(StrictCharField):
    """A new account's password; AUTH_PASSWORD_VALIDATORS judge it (all reasons at once)."""


class NewCredentialsSerializer(CredentialsSerializer):
    """Credentials for a new account: the schema states the username and password policy.

    The schema's pattern is an ECMA-262 regular expression, whose ``\\w`` is ASCII only, while
    Python's also takes "Ë"; so a new username spells its characters out, and is not
    trimmed first (" bob" does not match the pattern either).
    """

    username = StrictCharField(
        max_length=150,
        trim_whitespace=False,
        validators=[
            RegexValidator(r"^[A-Za-z0-9_.@+-]+\Z", "Use letters, digits and @ . + - _ only."),
        ],
    )
    password = NewPasswordField(
        min_length=8, max_length=128, write_only=True, trim_whitespace=False
    )


class UserOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = EmailOrEmptyField()
    role = serializers.CharField()


class ShopOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    default_pickup_address = serializers.CharField()
    default_pickup_point = LatLngField(allow_null=True)
    webhook_url = URLOrEmptyField()
    created_at = serializers.DateTimeField()


class QuerySerializer(serializers.Serializer):
    """Query-string filters: ``?name=`` (present but empty) is a 400, not "no filter"."""

    def to_internal_value(self, data: Any) -> Any:
        blank = [name for name in self.fields if name in data and data.get(name) == ""]
        if blank:
            raise serializers.ValidationError({name: ["May not be empty."] for name in blank})
        return super().to_internal_value(data)
