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

from jobs.api.trip import (
    MAX_MINOR,
    TRIP_FIELDS,
    PlaceInputSerializer,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    StrictUUIDField,
    TripInputSerializer,
    optional_text,
)
from jobs.models import DeliveryOption, Job, JobStatus
from jobs.posting import DeliveryOptions, JobExtras, Recipient, job_cancel, job_post, job_repost
from jobs.pricing import smallest_vehicle_for
from jobs.quotes import quote_create
from jobs.selectors import job_events, job_get, job_list
from marketplace.api.fields import LatLngField
from marketplace.api.pagination import PageNumberPagination
from marketplace.api.permissions import IsPlatformStaff, IsShop

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 255


# --- Output shapes ------------------------------------------------------------------------


def _stop_output_class(prefix: str) -> type[serializers.Serializer]:
    """A pickup or dropoff read from the ``<prefix>_*`` columns of a quote or job."""
    fields = {
        "address": serializers.CharField(source=f"{prefix}_address"),
        "lat": serializers.FloatField(source=f"{prefix}_point.y"),
        "lng": serializers.FloatField(source=f"{prefix}_point.x"),
        "contact_name": serializers.CharField(source=f"{prefix}_contact_name"),
        "contact_phone": serializers.CharField(source=f"{prefix}_contact_phone"),
        "instructions": serializers.CharField(source=f"{prefix}_instructions"),
    }
    return type(f"{prefix.title()}OutputSerializer", (serializers.Serializer,), fields)


PickupOutputSerializer = _stop_output_class("pickup")
DropoffOutputSerializer = _stop_output_class("dropoff")


class PackageOutputSerializer(serializers.Serializer):
    size = serializers.CharField(source="package_size")
    weight_g = serializers.IntegerField(source="package_weight_g")
    value_minor = serializers.IntegerField(source="package_value_minor")
    description = serializers.CharField(source="package_description")


class PriceOutputSerializer(serializers.Serializer):
    """Integer minor units: base + distance + size + surge == total == payout + fee."""

    currency = serializers.CharField()
    base_minor = serializers.IntegerField()
    distance_minor = serializers.IntegerField(source="distance_fee_minor")
    size_minor = serializers.IntegerField(source="size_fee_minor")
    surge_minor = serializers.IntegerField(source="surge_fee_minor")
    total_minor = serializers.IntegerField()
    courier_payout_minor = serializers.IntegerField()
    platform_fee_minor = serializers.IntegerField()
    surge_multiplier = serializers.DecimalField(max_digits=4, decimal_places=2)
    vehicle = serializers.SerializerMethodField()

    def get_vehicle(self, trip: Any) -> str:
        """The vehicle class the trip was priced for."""
        return smallest_vehicle_for(trip.package_size).value


class TripOutputSerializer(serializers.Serializer):
    pickup = PickupOutputSerializer(source="*")
    dropoff = DropoffOutputSerializer(source="*")
    package = PackageOutputSerializer(source="*")
    pickup_after = serializers.DateTimeField(allow_null=True)
    deliver_before = serializers.DateTimeField(allow_null=True)
    distance_m = serializers.IntegerField()
    price = PriceOutputSerializer(source="*")
    zone_id = serializers.IntegerField()


class AlternateOutputSerializer(serializers.Serializer):
    address = serializers.CharField(source="alternate_address")
    lat = serializers.FloatField(source="alternate_point.y")
    lng = serializers.FloatField(source="alternate_point.x")


class DeliveryOutputSerializer(serializers.Serializer):
    option = serializers.CharField(source="delivery_option")
    pin_required = serializers.BooleanField()
    locker_id = serializers.CharField()
    alternate_location = serializers.SerializerMethodField()
    alternate_note = serializers.CharField()

    @extend_schema_field(AlternateOutputSerializer(allow_null=True))
    def get_alternate_location(self, job: Job) -> dict[str, Any] | None:
        if job.alternate_point is None:
            return None
        return AlternateOutputSerializer(job).data


class RecipientOutputSerializer(serializers.Serializer):
    name = serializers.CharField(source="recipient_name")
    phone = serializers.CharField(source="recipient_phone")
    email = serializers.CharField(source="recipient_email")


class QuoteOutputSerializer(TripOutputSerializer):
    id = serializers.UUIDField()
    expires_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    pickup_eta_s = serializers.IntegerField(help_text="Seconds until a courier could be at pickup.")
    pickup_eta_source = serializers.CharField(
        help_text="nearest_courier, or default when no courier is near."
    )
    trip_s = serializers.IntegerField(source="dropoff_eta_s", help_text="Pickup to dropoff.")
    dropoff_eta_s = serializers.SerializerMethodField(
        help_text="Seconds until delivery: pickup_eta_s + trip_s."
    )

    def get_dropoff_eta_s(self, quote: Any) -> int:
        return quote.pickup_eta_s + quote.dropoff_eta_s


class JobOutputSerializer(TripOutputSerializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=JobStatus.choices)
    shop_id = serializers.IntegerField()
    quote_id = serializers.UUIDField(allow_null=True)
    external_ref = serializers.CharField()
    tip_minor = serializers.IntegerField()
    cancellation_fee_charged_minor = serializers.IntegerField()
    delivery = DeliveryOutputSerializer(source="*")
    recipient = RecipientOutputSerializer(source="*")
    courier_id = serializers.IntegerField(allow_null=True)
    release_at = serializers.DateTimeField(allow_null=True)
    tracking_token = serializers.CharField()
    tracking_url = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    assigned_at = serializers.DateTimeField(allow_null=True)
    picked_up_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)

    def get_tracking_url(self, job: Job) -> str:
        """Absolute URL of the recipient's tracking page."""
        return self.context["request"].build_absolute_uri(f"/t/{job.tracking_token}")


class JobSecretsOutputSerializer(JobOutputSerializer):
    """A job as its own shop sees it: with the secrets it passes on to the recipient."""

    recipient_pin = serializers.CharField(
        allow_null=True, help_text="The 4-digit handoff PIN when pin_required, else null."
    )
    locker_passcode = serializers.CharField(
        allow_null=True, help_text="The locker's one-time passcode for the locker option."
    )

    def to_representation(self, job: Job) -> dict[str, Any]:
        body = super().to_representation(job)
        body["recipient_pin"] = job.recipient_pin or None
        body["locker_passcode"] = job.locker_passcode or None
        return body


class JobEventOutputSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    from_status = serializers.SerializerMethodField()
    to_status = serializers.CharField()
    actor_role = serializers.CharField()
    courier_id = serializers.IntegerField(allow_null=True)
    point = LatLngField(allow_null=True)
    reason = serializers.CharField()
    data = serializers.JSONField()
    created_at = serializers.DateTimeField()

    def get_from_status(self, event: Any) -> str | None:
        """Null for the job's first event."""
        return event.from_status or None


def page_of(item: type[serializers.Serializer], name: str) -> type[serializers.Serializer]:
    """The paginated envelope of ``item`` (for the schema)."""
    return type(
        name,
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )


JobPageSerializer = page_of(JobOutputSerializer, "JobPage")
JobEventPageSerializer = page_of(JobEventOutputSerializer, "JobEventPage")


def paginated(view: APIView, request: Request, rows: Any, serializer: type, **kw: Any) -> Response:
    paginator = PageNumberPagination()
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response(serializer(page, many=True, **kw).data)


# --- Views --------------------------------------------------------------------------------


class QuoteCreateApi(APIView):
    """Price a trip: zone, geodesic distance, surge, ETAs; valid for QUOTE_TTL_SECONDS."""

    permission_classes = [IsShop]

    class InputSerializer(TripInputSerializer):
        pass

    @extend_schema(
        request=InputSerializer,
        responses={201: QuoteOutputSerializer},
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("pickup", "dropoff", "package"):
            self.fields[name].required = False

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
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
        name.strip()
        for raw in request.query_params.getlist("status")
        for name in raw.split(",")
        if name.strip()
    ]
    unknown = sorted(set(names) - set(JobStatus.values))
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

    class FilterSerializer(serializers.Serializer):
        created_after = serializers.DateTimeField(required=False)
        created_before = serializers.DateTimeField(required=False)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                many=True,
                description="One or several statuses (repeat it, or separate by commas).",
            ),
            OpenApiParameter(
                "created_after", OpenApiTypes.DATETIME, description="Created at or after."
            ),
            OpenApiParameter("created_before", OpenApiTypes.DATETIME, description="Before."),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
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
                    "Repeat a post safely: the same key with the same body answers 200 with "
                    "the job the first call created (201); with another body, 409 "
                    "idempotency_conflict."
                ),
            )
        ],
        responses={201: JobSecretsOutputSerializer, 200: JobSecretsOutputSerializer},
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
        )
        job, created = job_post(
            shop=request.user.shop,
            actor=request.user,
            quote_id=values.get("quote_id"),
            trip=values.get("trip"),
            extras=extras,
            idempotency_key=key,
            request_fingerprint=request_fingerprint(request.data) if key else "",
        )
        body = JobSecretsOutputSerializer(job, context={"request": request}).data
        if created:
            return Response(body, status=status.HTTP_201_CREATED)
        return Response(body, status=status.HTTP_200_OK, headers={"Idempotent-Replayed": "true"})


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
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
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
        request=InputSerializer, responses={200: JobSecretsOutputSerializer}, tags=["shop"]
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

    @extend_schema(request=None, responses={200: JobSecretsOutputSerializer}, tags=["shop"])
    def post(self, request: Request, pk: Any) -> Response:
        job = job_repost(job=job_get(user=request.user, pk=pk), actor=request.user)
        return Response(JobSecretsOutputSerializer(job, context={"request": request}).data)
