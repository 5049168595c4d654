"""What the shop's job API answers with: quotes, jobs (with or without secrets), events, pages."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from couriers.models import Vehicle
from jobs.hooks import job_output_extras
from jobs.models import Job, JobStatus
from jobs.sandbox.specs import TestSpecificationsSerializer
from jobs.tracking.tokens import job_tracking_token, job_tracking_url
from marketplace.api.fields import LatLngField
from marketplace.api.pagination import PageNumberPagination


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
    vehicle = serializers.ChoiceField(
        source="priced_vehicle",
        choices=Vehicle.choices,
        help_text="The vehicle class the trip was priced for.",
    )


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
    dropoff_eta_s = serializers.IntegerField(
        source="delivery_eta_s", help_text="Seconds until delivery: pickup_eta_s + trip_s."
    )


class JobPaymentOutputSerializer(serializers.Serializer):
    """The job's payment, filled in by the payments app (amounts in minor units)."""

    status = serializers.CharField(
        help_text="awaiting_authorisation, authorised, capturing, captured, cancelling or canceled."
    )
    authorised_minor = serializers.IntegerField()
    captured_minor = serializers.IntegerField()
    refunded_minor = serializers.IntegerField()
    currency = serializers.CharField()


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
    test_specifications = TestSpecificationsSerializer(
        allow_null=True,
        help_text="A sandbox shop's instructions for the robo courier; null otherwise.",
    )
    tracking_token = serializers.SerializerMethodField()
    tracking_url = serializers.SerializerMethodField()
    payment = serializers.SerializerMethodField(
        help_text="What the job's payment did so far; null when no payment is attached."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    assigned_at = serializers.DateTimeField(allow_null=True)
    picked_up_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(JobPaymentOutputSerializer(allow_null=True))
    def get_payment(self, job: Job) -> dict[str, Any] | None:
        return self._extras_for(job).get("payment")

    def _extras_for(self, job: Job) -> dict[str, Any]:
        """Fields other apps add (jobs.hooks job_output), fetched once for a whole page."""
        cache = self.context.setdefault("_job_output_extras", {})
        if job.pk not in cache:
            page = getattr(self.parent, "instance", None) if self.parent is not None else None
            jobs = list(page) if isinstance(page, list | tuple) else [job]
            cache.update(job_output_extras(other.pk for other in jobs))
        return cache.get(job.pk, {})

    def get_tracking_token(self, job: Job) -> str | None:
        """The recipient's link token (null only after a SECRET_KEY change: rotate it)."""
        return job_tracking_token(job)

    def get_tracking_url(self, job: Job) -> str | None:
        """The recipient's tracking page, on PUBLIC_BASE_URL."""
        return job_tracking_url(job)


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
