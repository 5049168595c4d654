"""Courier job API serializers: the position field and the job as its courier sees it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from couriers.models import Capacity
from jobs.courier_steps import job_next_steps, proof_requirements
from jobs.models import DeliveryOption, Job, JobStatus
from marketplace.api.fields import LatLngField, json_field_value

# --- Fields ------------------------------------------------------------------------------


class PositionField(LatLngField):
    """``{"lat", "lng"}``; in a multipart form, that object written as a JSON string."""

    def get_value(self, dictionary: Any) -> Any:
        # A nested serializer reads "position.lat"-style keys from form data; this one
        # field is sent whole.
        return dictionary.get(self.field_name, empty)

    def run_validation(self, data: Any = empty) -> Any:
        # Read the JSON first, so a form's "null" is the null a JSON body sends (allowed
        # where the field allows it), not an object that failed to arrive. Refused JSON
        # (malformed, too deep, huge numbers) is a 400 parse_error.
        if isinstance(data, str):
            data = json_field_value(self.field_name, data)
        return super().run_validation(data)


# --- Output ------------------------------------------------------------------------------


class CourierJobPickupSerializer(serializers.Serializer):
    address = serializers.CharField(source="pickup_address")
    point = LatLngField(source="pickup_point")
    contact_name = serializers.CharField(source="pickup_contact_name")
    contact_phone = serializers.CharField(source="pickup_contact_phone")
    instructions = serializers.CharField(source="pickup_instructions")


class CourierJobDropoffSerializer(serializers.Serializer):
    address = serializers.CharField(source="dropoff_address")
    point = LatLngField(source="dropoff_point")
    contact_name = serializers.CharField(source="dropoff_contact_name")
    contact_phone = serializers.CharField(source="dropoff_contact_phone")
    instructions = serializers.CharField(source="dropoff_instructions")


class CourierJobRecipientSerializer(serializers.Serializer):
    name = serializers.CharField(source="recipient_name")
    phone = serializers.CharField(source="recipient_phone")


class CourierJobPackageSerializer(serializers.Serializer):
    size = serializers.ChoiceField(source="package_size", choices=Capacity.choices)
    weight_g = serializers.IntegerField(source="package_weight_g")
    description = serializers.CharField(source="package_description")


class CourierJobAlternateLocationSerializer(serializers.Serializer):
    address = serializers.CharField(source="alternate_address")
    point = LatLngField(source="alternate_point", allow_null=True)
    note = serializers.CharField(source="alternate_note")


class ProofRequirementsSerializer(serializers.Serializer):
    position = serializers.BooleanField()
    pin = serializers.BooleanField()
    photo = serializers.BooleanField()
    locker_id = serializers.BooleanField()
    signature = serializers.BooleanField()
    geofence_m = serializers.IntegerField()
    geofence_point = LatLngField()


class CourierJobPinSerializer(serializers.Serializer):
    is_locked = serializers.BooleanField(source="is_pin_locked")
    failed_attempts = serializers.IntegerField(source="pin_failed_attempts")


class CourierJobProofSerializer(serializers.Serializer):
    is_pin_verified = serializers.BooleanField()
    recipient_name = serializers.CharField()
    distance_to_dropoff_m = serializers.IntegerField(allow_null=True)
    is_outside_geofence = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class CourierJobOutputSerializer(serializers.Serializer):
    """A job as its courier sees it: no recipient PIN, no locker passcode."""

    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=JobStatus.choices)
    next_steps = serializers.SerializerMethodField()
    pickup = CourierJobPickupSerializer(source="*")
    dropoff = CourierJobDropoffSerializer(source="*")
    recipient = CourierJobRecipientSerializer(source="*")
    package = CourierJobPackageSerializer(source="*")
    delivery_option = serializers.ChoiceField(choices=DeliveryOption.choices)
    locker_id = serializers.CharField()
    alternate_location = serializers.SerializerMethodField()
    proof_required = serializers.SerializerMethodField()
    pin = serializers.SerializerMethodField()
    pickup_after = serializers.DateTimeField(allow_null=True)
    deliver_before = serializers.DateTimeField(allow_null=True)
    distance_m = serializers.IntegerField()
    currency = serializers.CharField()
    courier_payout_minor = serializers.IntegerField()
    tip_minor = serializers.IntegerField()
    proof = CourierJobProofSerializer(allow_null=True)
    assigned_at = serializers.DateTimeField(allow_null=True)
    picked_up_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_next_steps(self, job: Job) -> list[str]:
        return job_next_steps(job)

    @extend_schema_field(CourierJobAlternateLocationSerializer(allow_null=True))
    def get_alternate_location(self, job: Job) -> dict[str, Any] | None:
        if job.delivery_option != DeliveryOption.ALTERNATE_LOCATION:
            return None
        return CourierJobAlternateLocationSerializer(job).data

    @extend_schema_field(ProofRequirementsSerializer)
    def get_proof_required(self, job: Job) -> dict[str, Any]:
        return ProofRequirementsSerializer(proof_requirements(job)).data

    @extend_schema_field(CourierJobPinSerializer(allow_null=True))
    def get_pin(self, job: Job) -> dict[str, Any] | None:
        return CourierJobPinSerializer(job).data if job.pin_required else None


class CourierJobPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CourierJobOutputSerializer(many=True)
