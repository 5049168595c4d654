"""The public tracking API (``/api/v1/track/{token}/…``) and the shop's link rotation.

Anonymous: the token is the credential. Every answer, errors included, carries
``Cache-Control: no-store``, ``Referrer-Policy: no-referrer`` and ``X-Robots-Tag:
noindex``. Unknown, rotated and expired tokens all get the same 404 ``not_found``; too
many requests per token or per address get 429 ``throttled`` with ``Retry-After``.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.api.trip import PlaceInputSerializer, optional_text
from jobs.courier_steps import job_get_for_viewer
from jobs.models import DeliveryOption, Job, JobPhoto, PhotoKind, ProblemReason, ProofOfDelivery
from jobs.tracking import rules, services
from jobs.tracking.selectors import tracking_view, with_photo_urls
from jobs.tracking.throttles import client_address, tracking_rate_check
from jobs.tracking.tokens import job_for_tracking_token, job_tracking_rotate, tracking_url
from marketplace.api.errors import NotFoundError
from marketplace.api.fields import StrictCharField, StrictDateTimeField, StrictIntegerField
from marketplace.api.permissions import IsShop
from marketplace.api.schema import ErrorSerializer

PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}


class TrackingLinkNotFound(NotFoundError):
    default_message = "This tracking link is not valid (it may have expired)."


def errors(**descriptions: str) -> dict[int, OpenApiResponse]:
    """Schema responses in the API's error shape: ``errors(_404="…", _409="…")``."""
    return {
        int(status.lstrip("_")): OpenApiResponse(response=ErrorSerializer, description=text)
        for status, text in descriptions.items()
    }


_LINK_ERRORS = {
    "_404": "`not_found`: unknown, rotated or expired link.",
    "_429": "`throttled`: too many requests for this link or from this address.",
}


def add_private_headers(response: Any) -> Any:
    for name, value in PRIVATE_HEADERS.items():
        response[name] = value
    return response


class TrackingView(APIView):
    """Base for the token's endpoints: anonymous, rate limited, private headers."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        wait = tracking_rate_check(token=kwargs["token"], address=client_address(request))
        if wait is not None:
            raise exceptions.Throttled(wait=wait)
        job = job_for_tracking_token(kwargs["token"])
        if job is None:
            raise TrackingLinkNotFound()
        self.job = job

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        return add_private_headers(super().finalize_response(request, response, *args, **kwargs))

    def view_response(self, job: Job) -> Response:
        fresh = job_for_tracking_token(self.kwargs["token"]) or job
        return Response(with_photo_urls(tracking_view(fresh), token=self.kwargs["token"]))


class TrackingOutputSerializer(serializers.Serializer):
    """What the recipient sees (see docs/tracking.md for every field)."""

    status = serializers.CharField()
    timeline = serializers.ListField(child=serializers.DictField())
    shop = serializers.DictField()
    pickup = serializers.DictField()
    dropoff = serializers.DictField()
    window = serializers.DictField()
    delivery = serializers.DictField()
    pin_required = serializers.BooleanField()
    pin = serializers.CharField(allow_null=True)
    eta = serializers.DictField(allow_null=True)
    warnings = serializers.ListField(child=serializers.CharField())
    courier = serializers.DictField(allow_null=True)
    courier_location = serializers.DictField(allow_null=True)
    proof = serializers.DictField(allow_null=True)
    rating = serializers.DictField(allow_null=True)
    actions = serializers.ListField(child=serializers.CharField())
    expires_at = serializers.DateTimeField(allow_null=True)


class TrackingApi(TrackingView):
    """The delivery as the recipient sees it."""

    @extend_schema(
        responses={200: TrackingOutputSerializer, **errors(**_LINK_ERRORS)},
        tags=["tracking"],
        operation_id="tracking_get",
        auth=[],
    )
    def get(self, request: Request, token: str) -> Response:
        return self.view_response(self.job)


def _action_schema(input_serializer: type, operation_id: str, **conflicts: str) -> Any:
    return extend_schema(
        request=input_serializer,
        responses={
            200: TrackingOutputSerializer,
            **errors(**_LINK_ERRORS, **conflicts),
        },
        tags=["tracking"],
        operation_id=operation_id,
        auth=[],
    )


class TrackingInstructionsApi(TrackingView):
    """Tell the courier something (≤ 500 characters); until the courier is at the door."""

    class InputSerializer(serializers.Serializer):
        text = StrictCharField(max_length=500, allow_blank=True)

    @_action_schema(
        InputSerializer,
        "tracking_instructions",
        _409="`instructions_closed` (courier at the drop-off or later), `job_ended`.",
    )
    def post(self, request: Request, token: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = services.recipient_instructions_set(job=self.job, text=data.validated_data["text"])
        return self.view_response(job)


class TrackingDeliveryOptionApi(TrackingView):
    """Leave at the door, use a locker, or deliver nearby instead; until pickup."""

    class InputSerializer(serializers.Serializer):
        delivery_option = serializers.ChoiceField(choices=rules.RECIPIENT_DELIVERY_OPTIONS)
        locker_id = StrictCharField(max_length=64, required=False, allow_blank=True, default="")
        alternate_location = PlaceInputSerializer(required=False, allow_null=True, default=None)
        alternate_note = optional_text(500)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            option = attrs["delivery_option"]
            if option == DeliveryOption.LOCKER and not attrs["locker_id"]:
                raise serializers.ValidationError({"locker_id": ["Required for a locker."]})
            if option == DeliveryOption.ALTERNATE_LOCATION and attrs["alternate_location"] is None:
                raise serializers.ValidationError(
                    {"alternate_location": ["Required for alternate_location."]}
                )
            return attrs

    @_action_schema(
        InputSerializer,
        "tracking_delivery_option",
        _400="`validation_error`: also when the option needs what was not sent (`locker` a "
        "`locker_id`, `alternate_location` an `alternate_location`).",
        _409="`already_picked_up`, `job_ended`, `redirect_too_far` (farther than "
        "RECIPIENT_MAX_REDIRECT_M from the original drop-off).",
        _422="`outside_service_area`: the alternate location is outside every zone.",
    )
    def post(self, request: Request, token: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        place = values["alternate_location"]
        option = values["delivery_option"]
        is_alternate = option == DeliveryOption.ALTERNATE_LOCATION
        job = services.recipient_delivery_option_set(
            job=self.job,
            option=option,
            locker_id=values["locker_id"],
            alternate_address=place.address if place and is_alternate else "",
            alternate_point=place.point if place and is_alternate else None,
            alternate_note=values["alternate_note"],
        )
        return self.view_response(job)


class TrackingRescheduleApi(TrackingView):
    """Deliver in another window (up to 7 days ahead); until pickup. The job goes back to
    ``scheduled``."""

    class InputSerializer(serializers.Serializer):
        deliver_after = StrictDateTimeField()
        deliver_before = StrictDateTimeField()

    @_action_schema(
        InputSerializer,
        "tracking_reschedule",
        _400=(
            "`validation_error`: also when the window is in the past, ends before it "
            "starts, or ends more than 7 days from now (`fields` names the end at fault)."
        ),
        _409="`already_picked_up`, `job_ended`; `invalid_transition`: the job's status cannot "
        "go back to scheduled.",
    )
    def post(self, request: Request, token: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = services.recipient_reschedule(job=self.job, **data.validated_data)
        return self.view_response(job)


class TrackingRatingApi(TrackingView):
    """Rate the delivery once, after it was delivered; it feeds the courier's rating."""

    class InputSerializer(serializers.Serializer):
        stars = StrictIntegerField(min_value=1, max_value=5)
        comment = optional_text(500)

    @_action_schema(InputSerializer, "tracking_rating", _409="`not_delivered`, `already_rated`.")
    def post(self, request: Request, token: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.recipient_rate(job=self.job, **data.validated_data)
        return self.view_response(self.job)


class TrackingProblemApi(TrackingView):
    """Report a problem after pickup; staff and the shop see it."""

    class InputSerializer(serializers.Serializer):
        reason = serializers.ChoiceField(choices=ProblemReason.choices)
        text = optional_text(1000)

    @_action_schema(InputSerializer, "tracking_problem", _409="`not_picked_up`.")
    def post(self, request: Request, token: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.recipient_problem_report(job=self.job, **data.validated_data)
        return self.view_response(self.job)


class _AnyAccept(BaseContentNegotiation):
    def select_parser(self, request: Request, parsers: list) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: list, format_suffix: Any = None) -> Any:
        return renderers[0], renderers[0].media_type


class TrackingPhotoApi(TrackingView):
    """The delivery photo of a delivered job (the only image a recipient may see)."""

    content_negotiation_class = _AnyAccept

    @extend_schema(
        responses={
            (200, "image/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The image."),
            **errors(**_LINK_ERRORS),
        },
        tags=["tracking"],
        operation_id="tracking_photo",
        auth=[],
    )
    def get(self, request: Request, token: str, photo_pk: UUID) -> HttpResponse:
        proof = ProofOfDelivery.objects.filter(job=self.job, photo_id=photo_pk).first()
        photo = (
            JobPhoto.objects.filter(pk=photo_pk, job=self.job, kind=PhotoKind.DELIVERY).first()
            if proof is not None and self.job.status == "delivered"
            else None
        )
        if photo is None:
            raise NotFoundError("No such photo.")
        response = HttpResponse(bytes(photo.data), content_type=photo.content_type)
        return add_private_headers(response)


class JobTrackingRotateApi(APIView):
    """Give the job a new tracking link; the old one stops working at once."""

    permission_classes = [IsShop]

    class OutputSerializer(serializers.Serializer):
        tracking_token = serializers.CharField()
        tracking_url = serializers.URLField()

    @extend_schema(
        request=None,
        responses={200: OutputSerializer, **errors(_404="`not_found`: not one of your jobs.")},
        tags=["shop"],
        operation_id="job_tracking_rotate",
    )
    def post(self, request: Request, pk: UUID) -> Response:
        job = job_get_for_viewer(user=request.user, job_pk=pk)
        _, token = job_tracking_rotate(job=job, actor=request.user)
        return Response({"tracking_token": token, "tracking_url": tracking_url(token)})
