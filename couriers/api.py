"""Courier endpoints: sign-up, profile, availability and location reports."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from couriers.locations import InvalidLocation, location_batch_check
from couriers.models import Capacity, Courier, Vehicle
from couriers.services import courier_register, courier_set_availability, location_ingest
from marketplace.api.fields import LatLngField, StrictBooleanField, StrictCharField
from marketplace.api.permissions import IsCourier
from marketplace.api.schema import error_responses
from marketplace.api.serializers import NewCredentialsSerializer, UserOutputSerializer


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

    class InputSerializer(NewCredentialsSerializer):
        email = serializers.EmailField(required=False, default="")
        phone = StrictCharField(max_length=32, required=False, default="")
        first_name = StrictCharField(max_length=150, required=False, default="")
        last_name = StrictCharField(max_length=150, required=False, default="")
        vehicle = serializers.ChoiceField(choices=Vehicle.choices)

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        user = UserOutputSerializer()
        courier = CourierOutputSerializer()

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
        user, courier, token = courier_register(**data.validated_data)
        body = self.OutputSerializer({"token": token.key, "user": user, "courier": courier}).data
        return Response(body, status=status.HTTP_201_CREATED)


class CourierMeApi(APIView):
    """The signed-in courier's profile."""

    permission_classes = [IsCourier]

    @extend_schema(responses={200: CourierOutputSerializer}, tags=["courier"])
    def get(self, request: Request) -> Response:
        return Response(CourierOutputSerializer(request.user.courier).data)


class CourierAvailabilityApi(APIView):
    """Go online (available, or busy while holding a job) or offline.

    Going offline while holding an active job answers 409 ``courier_has_active_job``.
    """

    permission_classes = [IsCourier]

    class InputSerializer(serializers.Serializer):
        online = StrictBooleanField()

    @extend_schema(
        request=InputSerializer,
        responses={
            200: CourierOutputSerializer,
            **error_responses({409: "`courier_has_active_job`: finish or drop the job first."}),
        },
        tags=["courier"],
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        courier = courier_set_availability(
            courier=request.user.courier, online=data.validated_data["online"]
        )
        return Response(CourierOutputSerializer(courier).data)


class LocationInputSerializer(serializers.Serializer):
    """One fix (documentation only: couriers.locations checks pings, on REST and socket)."""

    lat = serializers.FloatField(min_value=-90, max_value=90)
    lng = serializers.FloatField(min_value=-180, max_value=180)
    recorded_at = serializers.DateTimeField(help_text="ISO 8601 with a timezone.")
    accuracy_m = serializers.FloatField(required=False, allow_null=True, min_value=0)
    heading = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=360)
    speed_mps = serializers.FloatField(required=False, allow_null=True, min_value=0)


class CourierLocationApi(APIView):
    """Report one fix, or a list of up to LOCATION_BATCH_MAX_ITEMS, for apps without a socket.

    One object: 201, or 400 naming the bad fields. A list: the valid items are stored (201,
    with the index of each refused item and its field errors under ``rejected``); when
    none is valid, 400 with ``fields`` keyed by item index. An offline courier gets 409
    ``courier_offline`` and nothing is stored. ``flags`` lists stored items that are kept
    but not trusted: ``out_of_order``, ``inaccurate``, ``implausible_speed``.
    """

    permission_classes = [IsCourier]

    class OutputSerializer(serializers.Serializer):
        stored = serializers.IntegerField()
        flags = serializers.DictField(child=serializers.CharField())
        rejected = serializers.DictField(child=serializers.DictField())

    @extend_schema(
        request=LocationInputSerializer,
        responses={
            201: OutputSerializer,
            **error_responses({409: "`courier_offline`: go online first; nothing is stored."}),
        },
        tags=["courier"],
        description="The body is one location object or a JSON list of them.",
    )
    def post(self, request: Request) -> Response:
        body = request.data
        is_list = isinstance(body, list)
        items = body if is_list else [body]
        if is_list:
            try:
                location_batch_check(items)
            except InvalidLocation as exc:
                raise ValidationError(exc.fields) from exc
        result = location_ingest(courier=request.user.courier, items=items)
        if result.rejected and not result.stored:
            fields = result.rejected[0] if not is_list else _by_index(result.rejected)
            raise ValidationError(fields)
        body = {
            "stored": result.stored,
            "flags": _by_index(result.flags),
            "rejected": _by_index(result.rejected),
        }
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)


def _by_index(values: dict[int, Any]) -> dict[str, Any]:
    return {str(index): value for index, value in sorted(values.items())}
