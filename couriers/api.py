"""Courier endpoints: sign-up and profile."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from couriers.models import Capacity, Courier, Vehicle
from couriers.services import courier_register
from marketplace.api.fields import LatLngField
from marketplace.api.permissions import IsCourier
from marketplace.api.serializers import CredentialsSerializer, UserOutputSerializer


class CourierOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    vehicle = serializers.ChoiceField(choices=Vehicle.choices)
    capacity = serializers.ChoiceField(choices=Capacity.choices)
    status = serializers.ChoiceField(choices=Courier.Status.choices)
    current_point = LatLngField(allow_null=True)
    last_seen_at = serializers.DateTimeField(allow_null=True)
    rating = serializers.DecimalField(max_digits=3, decimal_places=2)


class CourierRegisterApi(APIView):
    """Sign up as a courier; the account starts offline."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_scope = "auth"

    class InputSerializer(CredentialsSerializer):
        email = serializers.EmailField(required=False, default="")
        phone = serializers.CharField(max_length=32, required=False, default="")
        first_name = serializers.CharField(max_length=150, required=False, default="")
        last_name = serializers.CharField(max_length=150, required=False, default="")
        vehicle = serializers.ChoiceField(choices=Vehicle.choices)

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        user = UserOutputSerializer()
        courier = CourierOutputSerializer()

    @extend_schema(
        request=InputSerializer, responses={201: OutputSerializer}, tags=["auth"], auth=[]
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, courier, token = courier_register(**data.validated_data)
        body = self.OutputSerializer({"token": token.key, "user": user, "courier": courier}).data
        return Response(body, status=status.HTTP_201_CREATED)


class CourierMeApi(APIView):
    """The signed-in courier's profile."""

    permission_classes = [IsCourier]

    @extend_schema(responses={200: CourierOutputSerializer}, tags=["courier"])
    def get(self, request: Request) -> Response:
        return Response(CourierOutputSerializer(request.user.courier).data)
