"""Courier job views: my jobs, then one view per step (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.api.courier.serializers import (
    CourierJobOutputSerializer,
    CourierJobPageSerializer,
    PositionField,
)
from jobs.courier_steps import (
    FailureReason,
    PinLocked,
    WrongPin,
    courier_job_get,
    courier_jobs_list,
    job_arrive_dropoff,
    job_arrive_pickup,
    job_complete_return,
    job_deliver,
    job_drop,
    job_fail,
    job_pick_up,
)
from jobs.models import Job, JobStatus
from jobs.photos import ProofImage, image_read
from marketplace.api.fields import StrictCharField
from marketplace.api.pagination import PAGE_PARAMETERS, PageNumberPagination
from marketplace.api.parsing import StrictJSONParser
from marketplace.api.permissions import IsCourier
from marketplace.api.schema import error_responses


def _job_body(courier_job: Job) -> dict[str, Any]:
    return CourierJobOutputSerializer(courier_job).data


# --- Reads -------------------------------------------------------------------------------


class CourierJobListApi(APIView):
    """My jobs: the active one first, then the most recent."""

    permission_classes = [IsCourier]

    @extend_schema(
        operation_id="v1_courier_jobs_list",
        responses={200: CourierJobPageSerializer},
        parameters=[
            *PAGE_PARAMETERS,
        ],
        tags=["courier"],
    )
    def get(self, request: Request) -> Response:
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            courier_jobs_list(courier=request.user.courier), request, view=self
        )
        return paginator.get_paginated_response(CourierJobOutputSerializer(page, many=True).data)


class CourierJobDetailApi(APIView):
    """One of my jobs (any other job is 404)."""

    permission_classes = [IsCourier]

    @extend_schema(responses={200: CourierJobOutputSerializer}, tags=["courier"])
    def get(self, request: Request, pk: UUID) -> Response:
        return Response(_job_body(courier_job_get(courier=request.user.courier, job_pk=pk)))


# --- Steps -------------------------------------------------------------------------------


_STEP_CONFLICT = "`invalid_transition`: the job is not in the state this step starts from."
STEP_ERRORS = error_responses({409: _STEP_CONFLICT})
_NOT_AN_IMAGE = "`unsupported_image`: a file is not a JPEG, PNG or WebP image (by its bytes)."


class _StepApi(APIView):
    """Shared by the step views: the courier's own job or 404, then the body."""

    permission_classes = [IsCourier]

    def own_job_input(self, request: Request, pk: UUID, serializer: type) -> dict[str, Any]:
        """404 for someone else's job (before the body is read), else the validated body."""
        courier_job_get(courier=request.user.courier, job_pk=pk)
        data = serializer(data=request.data)
        data.is_valid(raise_exception=True)
        return data.validated_data

    def respond(self, request: Request, pk: UUID) -> Response:
        return Response(_job_body(courier_job_get(courier=request.user.courier, job_pk=pk)))


class _PositionInputSerializer(serializers.Serializer):
    position = PositionField(required=False, allow_null=True, default=None)


class CourierJobPositionStepApi(_StepApi):
    """A step that carries only the courier's optional position."""

    step_service: Callable[..., Job]  # a staticmethod in each subclass

    class InputSerializer(_PositionInputSerializer):
        pass

    @extend_schema(
        request=InputSerializer,
        responses={200: CourierJobOutputSerializer, **STEP_ERRORS},
        tags=["courier"],
    )
    def post(self, request: Request, pk: UUID) -> Response:
        data = self.own_job_input(request, pk, self.InputSerializer)
        self.step_service(
            job_pk=pk, courier=request.user.courier, actor=request.user, point=data["position"]
        )
        return self.respond(request, pk)


class CourierJobArrivePickupApi(CourierJobPositionStepApi):
    """assigned -> at_pickup."""

    step_service = staticmethod(job_arrive_pickup)


class CourierJobArriveDropoffApi(CourierJobPositionStepApi):
    """picked_up -> at_dropoff."""

    step_service = staticmethod(job_arrive_dropoff)


class CourierJobReturnedApi(CourierJobPositionStepApi):
    """returning -> returned: the package is back at the pickup."""

    step_service = staticmethod(job_complete_return)


def _read_image(data: dict[str, Any], field: str) -> ProofImage | None:
    upload = data.get(field)
    return image_read(upload=upload, field=field) if upload is not None else None


class CourierJobPickupApi(_StepApi):
    """at_pickup -> picked_up; optionally a photo of the package (multipart) or its barcode."""

    parser_classes = [StrictJSONParser, MultiPartParser]

    class InputSerializer(_PositionInputSerializer):
        photo = serializers.FileField(required=False, allow_null=True, default=None)
        barcode = StrictCharField(required=False, allow_blank=True, default="", max_length=128)

    @extend_schema(
        request={
            "application/json": InputSerializer,
            "multipart/form-data": InputSerializer,
        },
        responses={
            200: CourierJobOutputSerializer,
            **error_responses({400: f"`validation_error`, `parse_error`; {_NOT_AN_IMAGE}"}),
            **STEP_ERRORS,
        },
        tags=["courier"],
    )
    def post(self, request: Request, pk: UUID) -> Response:
        data = self.own_job_input(request, pk, self.InputSerializer)
        job_pick_up(
            job_pk=pk,
            courier=request.user.courier,
            actor=request.user,
            point=data["position"],
            photo=_read_image(data, "photo"),
            barcode=data["barcode"],
        )
        return self.respond(request, pk)


class CourierJobDeliverApi(_StepApi):
    """at_dropoff -> delivered, with proof: see the job's ``proof_required``.

    ``position`` is required. A wrong PIN answers 400 ``wrong_pin`` with ``attempts_left``;
    after PIN_MAX_ATTEMPTS wrong PINs, 409 ``pin_locked`` until staff unlock it. Farther
    than DELIVERY_GEOFENCE_M from the delivery point, ``geofence_reason`` is required and
    the job is flagged for review. A locker delivery sends the job's ``locker_id``.
    """

    parser_classes = [StrictJSONParser, MultiPartParser]

    class InputSerializer(serializers.Serializer):
        position = PositionField()
        pin = StrictCharField(required=False, allow_blank=True, default="", max_length=16)
        photo = serializers.FileField(required=False, allow_null=True, default=None)
        signature = serializers.FileField(required=False, allow_null=True, default=None)
        recipient_name = StrictCharField(
            required=False, allow_blank=True, default="", max_length=100
        )
        locker_id = StrictCharField(required=False, allow_blank=True, default="", max_length=64)
        geofence_reason = StrictCharField(
            required=False, allow_blank=True, default="", max_length=500
        )

    @extend_schema(
        request={
            "application/json": InputSerializer,
            "multipart/form-data": InputSerializer,
        },
        responses={
            200: CourierJobOutputSerializer,
            **error_responses(
                {
                    400: "`validation_error`, `parse_error`; `wrong_pin` (with "
                    "`attempts_left`), `proof_required` (the proof the job asks for is "
                    "missing), `wrong_locker`, `geofence_reason_required` (delivered far "
                    f"from the drop-off without saying why); {_NOT_AN_IMAGE}",
                    409: f"{_STEP_CONFLICT} `pin_locked`: too many wrong PINs.",
                }
            ),
        },
        tags=["courier"],
    )
    def post(self, request: Request, pk: UUID) -> Response:
        data = self.own_job_input(request, pk, self.InputSerializer)
        job_deliver(
            job_pk=pk,
            courier=request.user.courier,
            actor=request.user,
            point=data["position"],
            pin=data["pin"],
            photo=_read_image(data, "photo"),
            signature=_read_image(data, "signature"),
            recipient_name=data["recipient_name"],
            locker_id=data["locker_id"],
            geofence_reason=data["geofence_reason"],
        )
        return self.respond(request, pk)

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        if isinstance(exc, WrongPin):
            response.data["attempts_left"] = exc.attempts_left
        elif isinstance(exc, PinLocked):
            response.data["attempts_left"] = 0
        return response


class CourierJobFailApi(_StepApi):
    """picked_up/at_dropoff -> failed -> returning: the package goes back to the pickup."""

    class InputSerializer(_PositionInputSerializer):
        reason = serializers.ChoiceField(choices=FailureReason.choices)
        note = StrictCharField(required=False, allow_blank=True, default="", max_length=500)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: CourierJobOutputSerializer,
            **error_responses(
                {400: "`validation_error`: also when the reason is `other` and the note is blank."}
            ),
            **STEP_ERRORS,
        },
        tags=["courier"],
    )
    def post(self, request: Request, pk: UUID) -> Response:
        data = self.own_job_input(request, pk, self.InputSerializer)
        job_fail(
            job_pk=pk,
            courier=request.user.courier,
            actor=request.user,
            reason=data["reason"],
            note=data["note"],
            point=data["position"],
        )
        return self.respond(request, pk)


class CourierJobDropApi(_StepApi):
    """assigned/at_pickup -> pending: give the job back before pickup; dispatch re-offers it.

    Answers with the job as it is now: no longer the courier's.
    """

    class InputSerializer(_PositionInputSerializer):
        reason = StrictCharField(max_length=500)

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        status = serializers.ChoiceField(choices=JobStatus.choices)

    @extend_schema(
        request=InputSerializer, responses={200: OutputSerializer, **STEP_ERRORS}, tags=["courier"]
    )
    def post(self, request: Request, pk: UUID) -> Response:
        data = self.own_job_input(request, pk, self.InputSerializer)
        job = job_drop(
            job_pk=pk,
            courier=request.user.courier,
            actor=request.user,
            reason=data["reason"],
            point=data["position"],
        )
        return Response(self.OutputSerializer(job).data)
