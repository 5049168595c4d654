"""Serializers more than one endpoint shares: credentials, users, shops."""

from django.core.validators import RegexValidator
from rest_framework import serializers

from marketplace.api.fields import LatLngField


class CredentialsSerializer(serializers.Serializer):
    """Username and password as sent at sign-up and sign-in."""

    username = serializers.CharField(
        max_length=150,
        validators=[
            RegexValidator(r"^[\w.@+-]+\Z", "Use letters, digits and @ . + - _ only."),
        ],
    )
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class UserOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField()
    role = serializers.CharField()


class ShopOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    default_pickup_address = serializers.CharField()
    default_pickup_point = LatLngField(allow_null=True)
    webhook_url = serializers.URLField()
    created_at = serializers.DateTimeField()
