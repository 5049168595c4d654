"""Sign-up for shops and sign-in (API tokens) for everyone."""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.api.errors import ApplicationError
from marketplace.api.fields import LatLngField, StrictCharField
from marketplace.api.permissions import IsShop
from marketplace.api.schema import error_responses
from marketplace.api.serializers import (
    CredentialsSerializer,
    NewCredentialsSerializer,
    ShopOutputSerializer,
    UserOutputSerializer,
)
from marketplace.services import shop_register, token_obtain


class InvalidCredentials(ApplicationError):
    code = "invalid_credentials"
    status_code = status.HTTP_400_BAD_REQUEST
    default_message = "Unable to sign in with these credentials."


class ShopRegisterApi(APIView):
    """Open a shop account: the shop, its first staff user, and an API token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_scope = "auth"

    class InputSerializer(NewCredentialsSerializer):
        email = serializers.EmailField(required=False, default="")
        phone = StrictCharField(max_length=32, required=False, default="")
        shop_name = StrictCharField(max_length=200)
        default_pickup_address = StrictCharField(max_length=500, required=False, default="")
        default_pickup_point = LatLngField(required=False, allow_null=True, default=None)

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        user = UserOutputSerializer()
        shop = ShopOutputSerializer()

    @extend_schema(
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            **error_responses(
                {400: "`validation_error`: a bad field, a taken username, or a weak password."}
            ),
        },
        tags=["auth"],
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, shop, token = shop_register(**data.validated_data)
        body = self.OutputSerializer({"token": token.key, "user": user, "shop": shop}).data
        return Response(body, status=status.HTTP_201_CREATED)


class TokenObtainApi(APIView):
    """Exchange a username and password for the account's API token and role."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_scope = "auth"

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        user = UserOutputSerializer()

    @extend_schema(
        request=CredentialsSerializer,
        responses={
            200: OutputSerializer,
            **error_responses(
                {400: "`invalid_credentials`: no such user or a wrong password; or a bad field."}
            ),
        },
        tags=["auth"],
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = CredentialsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request=request, **data.validated_data)
        if user is None:
            raise InvalidCredentials()
        token = token_obtain(user=user)
        return Response(self.OutputSerializer({"token": token.key, "user": user}).data)


class ShopMeApi(APIView):
    """The signed-in user's shop."""

    permission_classes = [IsShop]

    @extend_schema(responses={200: ShopOutputSerializer}, tags=["shop"])
    def get(self, request: Request) -> Response:
        return Response(ShopOutputSerializer(request.user.shop).data)
