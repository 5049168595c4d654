"""The shop's job API: quote, post (idempotently), list, read, follow events, cancel, re-post."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.api.shop.outputs import (
    JobEventOutputSerializer,
    JobEventPageSerializer,
    JobOutputSerializer,
    JobPageSerializer,
    JobSecretsOutputSerializer,
    QuoteOutputSerializer,
    paginated,
)
from jobs.api.trip import (
    MAX_MINOR,
    TRIP_FIELDS,
    PlaceInputSerializer,
    TripInputSerializer,
    optional_text,
)
from jobs.models import DeliveryOption, Job, JobStatus
from jobs.posting import (
    UNSTORED_RESPONSE_FIELDS,
    DeliveryOptions,
    JobExtras,
    Recipient,
    job_cancel,
    job_idempotent_response,
    job_post,
    job_repost,
)
from jobs.quotes import quote_create
from jobs.sandbox.specs import TestSpecificationsSerializer, test_specifications_parse
from jobs.selectors import job_events, job_get, job_list
from marketplace.api.fields import (
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    StrictUUIDField,
)
from marketplace.api.pagination import PAGE_PARAMETERS
from marketplace.api.permissions import IsPlatformStaff, IsShop
from marketplace.api.schema import error_responses
from marketplace.api.serializers import QuerySerializer

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 255


class QuoteCreateApi(APIView):
    """Price a trip: zone, geodesic distance, surge, ETAs; valid for QUOTE_TTL_SECONDS."""

    permission_classes = [IsShop]

    class InputSerializer(TripInputSerializer):
        pass

    @extend_schema(
        request=InputSerializer,
        responses={
            201: QuoteOutputSerializer,
            **error_responses({422: "`outside_service_area`: no zone serves the pickup."}),
        },
        tags=["shop"],
        operation_id="quote_create",
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        quote, eta_source = quote_create(shop=request.user.shop, trip=data.validated_data["trip"])
        quote.pickup_eta_source = eta_source
        return Response(QuoteOutputSerializer(quote).data, status=status.HTTP_201_CREATED)


class RecipientInputSerializer(serializers.Serializer):
    name = optional_text(100)
    phone = optional_text(32)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")


@extend_schema_field(TestSpecificationsSerializer)
class TestSpecificationsField(serializers.Field):
    """Sandbox shops only: how the built-in robo courier handles the job (a strict object:
    unknown keys, wrong types and out-of-range values are a 400 naming the field)."""

    def to_internal_value(self, data: Any) -> Any:
        return data  # checked in JobCreateInputSerializer.validate, naming the inner field

    def to_representation(self, value: Any) -> Any:
        return value


class JobCreateInputSerializer(TripInputSerializer):
    """A quote_id, or the trip itself (priced on the spot), plus the delivery details."""

    quote_id = StrictUUIDField(required=False)
    delivery_option = serializers.ChoiceField(
        choices=DeliveryOption.choices, required=False, default=DeliveryOption.HAND_TO_RECIPIENT
    )
    pin_required = StrictBooleanField(required=False, default=False)
    locker_id = StrictCharField(max_length=64, required=False, allow_blank=True, default="")
    alternate_location = PlaceInputSerializer(required=False, allow_null=True, default=None)
    alternate_note = optional_text(500)
    recipient = RecipientInputSerializer(required=False)
    tip_minor = StrictIntegerField(min_value=0, max_value=MAX_MINOR, required=False, default=0)
    external_ref = optional_text(100)
    test_specifications = TestSpecificationsField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("pickup", "dropoff", "package"):
            self.fields[name].required = False

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "test_specifications" in attrs:
            attrs["test_specifications"] = test_specifications_parse(attrs["test_specifications"])
        given = set(self.initial_data) if isinstance(self.initial_data, dict) else set()
        if "quote_id" in attrs:
            clash = sorted(given & set(TRIP_FIELDS))
            if clash:
                raise serializers.ValidationError(
                    {
                        name: ["Not allowed with quote_id: the quote fixes the trip."]
                        for name in clash
                    }
                )
        else:
            missing = [n for n in ("pickup", "dropoff", "package") if attrs.get(n) is None]
            if missing:
                raise serializers.ValidationError(
                    {name: ["Required unless quote_id is given."] for name in missing}
                )
        return super().validate(attrs)


def request_fingerprint(data: Any) -> str:
    """SHA-256 of the body as canonical JSON: key order and spacing do not matter."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_key_from(request: Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable() or not key.isascii():
        raise serializers.ValidationError(
            {IDEMPOTENCY_HEADER: [f"1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters."]}
        )
    return key


def statuses_from(request: Request) -> list[str]:
    """?status=a&status=b or ?status=a,b; unknown names are a 400."""
    names = [
        name.strip() for raw in request.query_params.getlist("status") for name in raw.split(",")
    ]
    unknown = sorted(set(names) - set(JobStatus.values))
    if "" in unknown:
        raise serializers.ValidationError({"status": ["May not be empty."]})
    if unknown:
        raise serializers.ValidationError(
            {
                "status": [
                    f"Unknown status: {', '.join(unknown)}. Use {', '.join(JobStatus.values)}."
                ]
            }
        )
    return names


class JobListCreateApi(APIView):
    """GET: jobs the caller may see (a shop its own, staff all). POST: post a job."""

    def get_permissions(self) -> list[Any]:
        if self.request.method == "POST":
            return [IsShop()]
        return [(IsShop | IsPlatformStaff)()]

    class FilterSerializer(QuerySerializer):
        created_after = serializers.DateTimeField(required=False)
        created_before = serializers.DateTimeField(required=False)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                many=True,
                enum=JobStatus.values,
                description="One or several statuses (repeat it, or separate by commas).",
            ),
            OpenApiParameter(
                "created_after", OpenApiTypes.DATETIME, description="Created at or after."
            ),
            OpenApiParameter("created_before", OpenApiTypes.DATETIME, description="Before."),
            *PAGE_PARAMETERS,
        ],
        responses={200: JobPageSerializer},
        tags=["shop"],
        operation_id="job_list",
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        jobs = job_list(
            user=request.user, statuses=statuses_from(request), **filters.validated_data
        )
        return paginated(self, request, jobs, JobOutputSerializer, context={"request": request})

    @extend_schema(
        request=JobCreateInputSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description=(
                    "Repeat a post safely: the same key with the same body answers with the "
                    "first call's status code (201) and body, as they were then, and the "
                    "header Idempotent-Replayed: true; with another body, 409 "
                    "idempotency_conflict."
                ),
            )
        ],
        responses={
            201: JobSecretsOutputSerializer,
            200: JobSecretsOutputSerializer,
            **error_responses(
                {
                    400: "`validation_error` (fields name what is wrong, e.g. "
                    "`test_specifications.robo_courier.step_delay_s`); "
                    "`test_specifications_sandbox_only`: only sandbox shops may send "
                    "`test_specifications`.",
                    404: "`not_found`: no such quote, or another shop's.",
                    409: "`quote_expired`, `quote_used`, `idempotency_conflict`, or "
                    "`sandbox_live_key` (a sandbox shop's money never moves with a live "
                    "Stripe key).",
                    422: "`outside_service_area`: no zone serves the pickup.",
                }
            ),
        },
        tags=["shop"],
        operation_id="job_create",
    )
    def post(self, request: Request) -> Response:
        key = idempotency_key_from(request)
        data = JobCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        recipient = values.get("recipient") or {}
        extras = JobExtras(
            delivery=DeliveryOptions(
                option=values["delivery_option"],
                pin_required=values["pin_required"],
                locker_id=values["locker_id"],
                alternate_location=values["alternate_location"],
                alternate_note=values["alternate_note"],
            ),
            recipient=Recipient(**recipient),
            tip_minor=values["tip_minor"],
            external_ref=values["external_ref"],
            test_specifications=values.get("test_specifications"),
        )

        def render(job: Job) -> tuple[int, dict[str, Any]]:
            body = JobSecretsOutputSerializer(job, context={"request": request}).data
            return status.HTTP_201_CREATED, dict(body)

        job, created = job_post(
            shop=request.user.shop,
            actor=request.user,
            quote_id=values.get("quote_id"),
            trip=values.get("trip"),
            extras=extras,
            idempotency_key=key,
            request_fingerprint=request_fingerprint(request.data) if key else "",
            render_response=render,
        )
        status_code, body = render(job)
        if created:
            return Response(body, status=status_code)
        # A replay: the first answer, with today's tracking link (never stored).
        replayed = {"Idempotent-Replayed": "true"}
        first = job_idempotent_response(job)
        if first is None:  # posted before first answers were kept
            return Response(body, status=status.HTTP_200_OK, headers=replayed)
        first_status, first_body = first
        for name in UNSTORED_RESPONSE_FIELDS:
            first_body[name] = body[name]
        return Response(first_body, status=first_status, headers=replayed)


class JobDetailApi(APIView):
    """One job (a shop's own; staff any). Includes the recipient PIN and locker passcode."""

    permission_classes = [IsShop | IsPlatformStaff]

    @extend_schema(responses={200: JobSecretsOutputSerializer}, tags=["shop"])
    def get(self, request: Request, pk: Any) -> Response:
        job = job_get(user=request.user, pk=pk)
        return Response(JobSecretsOutputSerializer(job, context={"request": request}).data)


class JobEventsApi(APIView):
    """The job's history, oldest first."""

    permission_classes = [IsShop | IsPlatformStaff]

    @extend_schema(
        parameters=[
            *PAGE_PARAMETERS,
        ],
        responses={200: JobEventPageSerializer},
        tags=["shop"],
    )
    def get(self, request: Request, pk: Any) -> Response:
        job = job_get(user=request.user, pk=pk)
        return paginated(self, request, job_events(job=job), JobEventOutputSerializer)


class JobCancelApi(APIView):
    """Cancel: free until the courier is at pickup, the zone's fee there, 409 after pickup."""

    permission_classes = [IsShop]

    class InputSerializer(serializers.Serializer):
        reason = StrictCharField(max_length=500)

    @extend_schema(
        request=InputSerializer,
        responses={
            200: JobSecretsOutputSerializer,
            **error_responses({409: "`invalid_transition`: the job is past pickup or done."}),
        },
        tags=["shop"],
    )
    def post(self, request: Request, pk: Any) -> Response:
        job = job_get(user=request.user, pk=pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = job_cancel(job=job, actor=request.user, reason=data.validated_data["reason"])
        return Response(JobSecretsOutputSerializer(job, context={"request": request}).data)


class JobRepostApi(APIView):
    """Send an unassigned job (nobody took it) through dispatch again."""

    permission_classes = [IsShop]

    @extend_schema(
        request=None,
        responses={
            200: JobSecretsOutputSerializer,
            **error_responses(
                {
                    402: "`payment_method_required`, `payment_declined`, "
                    "`payment_authentication_required`: the card hold, released while the "
                    "job sat unassigned, could not be made again; the job stays unassigned.",
                    409: "`invalid_transition`: only an unassigned job is reposted; "
                    "`payment_not_held`: its card hold was released meanwhile (repeat).",
                    503: "`payment_unavailable`: Stripe did not answer (repeat).",
                }
            ),
        },
        tags=["shop"],
    )
    def post(self, request: Request, pk: Any) -> Response:
        job = job_repost(job=job_get(user=request.user, pk=pk), actor=request.user)
        return Response(JobSecretsOutputSerializer(job, context={"request": request}).data)
