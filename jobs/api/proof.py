"""Proof of delivery for the shop and staff, the proof images, and staff's PIN unlock."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.courier_steps import (
    job_get_for_viewer,
    job_photo_get,
    job_photos_list,
    job_pin_unlock,
    job_proof_get,
)
from jobs.models import JobPhoto, JobStatus, PhotoKind
from marketplace.api.fields import LatLngField, StrictCharField
from marketplace.api.permissions import IsCourier, IsPlatformStaff, IsShop
from marketplace.api.schema import error_responses


class PhotoOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=PhotoKind.choices)
    content_type = serializers.CharField()
    size_bytes = serializers.IntegerField()
    sha256 = serializers.CharField()
    created_at = serializers.DateTimeField()
    url = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, photo: JobPhoto) -> str:
        path = reverse("v1:job-photo", kwargs={"pk": photo.job_id, "photo_pk": photo.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class JobProofApi(APIView):
    """How a job was delivered: PIN, recipient, position, geofence and the images."""

    permission_classes = [IsShop | IsPlatformStaff]

    class OutputSerializer(serializers.Serializer):
        job_id = serializers.UUIDField()
        status = serializers.ChoiceField(choices=JobStatus.choices, source="job.status")
        delivered_at = serializers.DateTimeField(source="job.delivered_at", allow_null=True)
        is_pin_verified = serializers.BooleanField()
        recipient_name = serializers.CharField()
        point = LatLngField(allow_null=True)
        distance_to_dropoff_m = serializers.IntegerField(allow_null=True)
        geofence_m = serializers.SerializerMethodField()
        is_outside_geofence = serializers.BooleanField()
        geofence_reason = serializers.CharField()
        needs_review = serializers.BooleanField(source="job.needs_review")
        photo = PhotoOutputSerializer(allow_null=True)
        signature = PhotoOutputSerializer(allow_null=True)
        photos = serializers.SerializerMethodField()
        created_at = serializers.DateTimeField()

        @extend_schema_field(OpenApiTypes.INT)
        def get_geofence_m(self, proof: Any) -> int:
            return settings.DELIVERY_GEOFENCE_M

        @extend_schema_field(PhotoOutputSerializer(many=True))
        def get_photos(self, proof: Any) -> list[dict[str, Any]]:
            return PhotoOutputSerializer(
                self.context["photos"], many=True, context=self.context
            ).data

    @extend_schema(responses={200: OutputSerializer}, tags=["jobs"])
    def get(self, request: Request, pk: UUID) -> Response:
        job = job_get_for_viewer(user=request.user, job_pk=pk)
        proof = job_proof_get(job=job)
        photos = list(job_photos_list(job=job))
        by_pk = {photo.pk: photo for photo in photos}
        # Attach the already loaded rows, so photo and signature cost no extra queries.
        proof.photo = by_pk.get(proof.photo_id)
        proof.signature = by_pk.get(proof.signature_id)
        proof.job = job
        context = {"request": request, "photos": photos}
        return Response(self.OutputSerializer(proof, context=context).data)


class _AnyAccept(BaseContentNegotiation):
    """Errors are always JSON and images always their own type, whatever Accept says."""

    def select_parser(self, request: Request, parsers: list) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Request, renderers: list, format_suffix: Any = None
    ) -> tuple[Any, str]:
        return renderers[0], renderers[0].media_type


class JobPhotoApi(APIView):
    """One proof image's bytes, with the content type its bytes proved at upload."""

    permission_classes = [IsShop | IsPlatformStaff | IsCourier]
    content_negotiation_class = _AnyAccept

    @extend_schema(
        responses={
            (200, "image/jpeg"): OpenApiResponse(OpenApiTypes.BINARY),
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY),
            (200, "image/webp"): OpenApiResponse(OpenApiTypes.BINARY),
        },
        tags=["jobs"],
    )
    def get(self, request: Request, pk: UUID, photo_pk: UUID) -> HttpResponse:
        job = job_get_for_viewer(user=request.user, job_pk=pk, allow_courier=True)
        photo = job_photo_get(job=job, photo_pk=photo_pk)
        response = HttpResponse(bytes(photo.data), content_type=photo.content_type)
        response["Content-Length"] = str(photo.size_bytes)
        response["ETag"] = f'"{photo.sha256}"'
        response["Cache-Control"] = "private, max-age=3600"
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Disposition"] = "inline"
        return response


class JobPinUnlockApi(APIView):
    """Staff: reset a locked recipient PIN so the courier can try again."""

    permission_classes = [IsPlatformStaff]

    class InputSerializer(serializers.Serializer):
        note = StrictCharField(required=False, allow_blank=True, default="", max_length=120)

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        status = serializers.ChoiceField(choices=JobStatus.choices)
        is_pin_locked = serializers.BooleanField()
        pin_failed_attempts = serializers.IntegerField()
        needs_review = serializers.BooleanField()
        review_reason = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            **error_responses({409: "`pin_not_locked`: the job's PIN is not locked."}),
        },
        tags=["staff"],
    )
    def post(self, request: Request, pk: UUID) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = job_pin_unlock(job_pk=pk, actor=request.user, note=data.validated_data["note"])
        return Response(self.OutputSerializer(job).data)
