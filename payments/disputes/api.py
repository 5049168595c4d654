"""The disputes API: shops open and follow disputes on their jobs, couriers see and answer them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.api.shop.outputs import page_of, paginated
from jobs.models import Job
from jobs.photos import ProofImage, image_read
from marketplace.api.errors import NotFoundError
from marketplace.api.fields import (
    StrictCharField,
    StrictIntegerField,
    StrictUUIDField,
    json_field_value,
)
from marketplace.api.pagination import PAGE_PARAMETERS
from marketplace.api.parsing import StrictJSONParser
from marketplace.api.permissions import IsCourier, IsShop
from marketplace.api.schema import error_responses
from payments.disputes.selectors import disputes_for_courier, disputes_for_shop
from payments.disputes.services import dispute_courier_reply, dispute_open
from payments.models import DisputeMessage, DisputeOpener, DisputeReason
from payments.models.disputes import COURIER_REASON_CHOICES

MAX_PHOTOS = 5
MAX_MINOR = 2**62


class ClaimSerializer(serializers.Serializer):
    value_minor = StrictIntegerField(min_value=0, max_value=MAX_MINOR)
    fee_minor = StrictIntegerField(min_value=0, max_value=MAX_MINOR)
    tip_minor = StrictIntegerField(min_value=0, max_value=MAX_MINOR)


class ClaimOutputSerializer(serializers.Serializer):
    value_minor = serializers.IntegerField(source="claim_value_minor")
    fee_minor = serializers.IntegerField(source="claim_fee_minor")
    tip_minor = serializers.IntegerField(source="claim_tip_minor")


class DisputeMessageOutputSerializer(serializers.Serializer):
    party = serializers.CharField()
    addressed_to = serializers.CharField()
    text = serializers.CharField()
    created_at = serializers.DateTimeField()


class DisputeOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    job_id = serializers.UUIDField()
    opener = serializers.CharField()
    reason = serializers.ChoiceField(choices=DisputeReason.choices)
    description = serializers.CharField()
    state = serializers.CharField()
    claim = ClaimOutputSerializer(source="*")
    currency = serializers.CharField()
    courier_reply_due_at = serializers.DateTimeField(allow_null=True)
    resolution = serializers.CharField()
    stripe_outcome = serializers.CharField()
    photo_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)


class DisputeDetailOutputSerializer(DisputeOutputSerializer):
    messages = DisputeMessageOutputSerializer(many=True)


DisputePageSerializer = page_of(DisputeOutputSerializer, "DisputePage")

NOT_AN_IMAGE = (
    "`validation_error`, `parse_error`; `unsupported_image`: a photo is not a JPEG, PNG or "
    "WebP image (by its bytes)."
)
DISPUTE_ERRORS = error_responses(
    {
        400: NOT_AN_IMAGE,
        409: "`dispute_not_allowed` (the job has not started, or the window closed), "
        "`dispute_already_open` (one open dispute per job and opener).",
        413: "`image_too_large`.",
        422: "`amount_exceeds_charge`: a claim part is more than what was charged for it.",
    }
)


def _photos(request: Request) -> list[ProofImage]:
    uploads = request.FILES.getlist("photos") if hasattr(request, "FILES") else []
    if len(uploads) > MAX_PHOTOS:
        message = f"At most {MAX_PHOTOS} photos."
        raise serializers.ValidationError({"photos": [message]})
    return [image_read(upload=upload, field="photos") for upload in uploads]


def _photo(request: Request) -> list[ProofImage]:
    """The one ``photo`` a multipart body may carry (a JSON body carries none)."""
    upload = request.FILES.get("photo") if hasattr(request, "FILES") else None
    return [image_read(upload=upload, field="photo")] if upload is not None else []


def _form_data(request: Request) -> dict[str, Any]:
    """A multipart body sends ``claim`` as one JSON-encoded part next to the photos."""
    if not request.content_type.startswith("multipart/"):
        return request.data
    data: dict[str, Any] = {key: request.data.get(key) for key in request.data if key != "photos"}
    raw = data.get("claim")
    if isinstance(raw, str):
        data["claim"] = json_field_value("claim", raw)
    return data


def _with_counts(disputes: Any) -> Any:
    from django.db.models import Count

    return disputes.annotate(photo_count=Count("photos")).select_related("job")


class JobDisputesApi(APIView):
    """The shop's disputes on one job; POST opens one (JSON, or multipart with photos)."""

    permission_classes = [IsShop]
    parser_classes = [StrictJSONParser, MultiPartParser]

    class InputSerializer(serializers.Serializer):
        reason = serializers.ChoiceField(choices=DisputeReason.choices)
        description = StrictCharField(max_length=5000, allow_blank=True, required=False, default="")
        claim = ClaimSerializer()

    def _job(self, request: Request, pk: UUID) -> Job:
        job = Job.objects.filter(pk=pk, shop_id=request.user.shop_id).first()
        if job is None:
            raise NotFoundError("No such job.")
        return job

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={200: DisputePageSerializer},
        tags=["disputes"],
    )
    def get(self, request: Request, pk: UUID) -> Response:
        job = self._job(request, pk)
        rows = _with_counts(disputes_for_shop(user=request.user).filter(job=job))
        return paginated(self, request, rows, DisputeOutputSerializer)

    @extend_schema(
        request={"application/json": InputSerializer, "multipart/form-data": InputSerializer},
        responses={201: DisputeOutputSerializer, **DISPUTE_ERRORS},
        tags=["disputes"],
    )
    def post(self, request: Request, pk: UUID) -> Response:
        job = self._job(request, pk)
        serializer = self.InputSerializer(data=_form_data(request))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        dispute = dispute_open(
            job=job,
            opener="shop",
            actor=request.user,
            reason=data["reason"],
            description=data["description"],
            claim_value_minor=data["claim"]["value_minor"],
            claim_fee_minor=data["claim"]["fee_minor"],
            claim_tip_minor=data["claim"]["tip_minor"],
            photos=_photos(request),
        )
        row = _with_counts(disputes_for_shop(user=request.user)).get(pk=dispute.pk)
        return Response(DisputeOutputSerializer(row).data, status=status.HTTP_201_CREATED)


def _detail(dispute: Any, *, party: str) -> dict[str, Any]:
    """The dispute with the messages ``party`` may read: their own and staff's to them."""
    messages = DisputeMessage.objects.filter(dispute=dispute).order_by("created_at", "pk")
    visible = [
        message
        for message in messages
        if message.party == party or (message.party == "staff" and message.addressed_to == party)
    ]
    body = DisputeOutputSerializer(dispute).data
    body["messages"] = DisputeMessageOutputSerializer(visible, many=True).data
    return body


class DisputeDetailApi(APIView):
    """One dispute on one of the shop's jobs (someone else's is a 404)."""

    permission_classes = [IsShop]

    @extend_schema(responses={200: DisputeDetailOutputSerializer}, tags=["disputes"])
    def get(self, request: Request, pk: UUID) -> Response:
        dispute = _with_counts(disputes_for_shop(user=request.user)).filter(pk=pk).first()
        if dispute is None:
            raise NotFoundError("No such dispute.")
        return Response(_detail(dispute, party="shop"))


class CourierDisputesApi(APIView):
    """The disputes about jobs the courier carried, newest first; POST opens the courier's
    own on one of them (JSON, or multipart with one photo)."""

    permission_classes = [IsCourier]
    parser_classes = [StrictJSONParser, MultiPartParser]

    class InputSerializer(serializers.Serializer):
        job_id = StrictUUIDField()
        reason = serializers.ChoiceField(choices=COURIER_REASON_CHOICES)
        description = StrictCharField(max_length=5000)

    class MultipartInputSerializer(InputSerializer):
        photo = serializers.FileField(required=False)

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={200: DisputePageSerializer},
        tags=["courier"],
    )
    def get(self, request: Request) -> Response:
        rows = _with_counts(disputes_for_courier(user=request.user))
        return paginated(self, request, rows, DisputeOutputSerializer)

    @extend_schema(
        request={
            "application/json": InputSerializer,
            "multipart/form-data": MultipartInputSerializer,
        },
        responses={
            201: DisputeOutputSerializer,
            **error_responses(
                {
                    400: NOT_AN_IMAGE,
                    404: "`not_found`: no job you carried has this id.",
                    409: "`dispute_not_allowed` (the job has not started, or the window "
                    "closed), `dispute_already_open` (you have an open dispute on the job).",
                    413: "`image_too_large`.",
                }
            ),
        },
        tags=["courier"],
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        dispute = dispute_open(
            job=data["job_id"],
            opener=DisputeOpener.COURIER,
            actor=request.user,
            reason=data["reason"],
            description=data["description"],
            claim_value_minor=0,
            claim_fee_minor=0,
            claim_tip_minor=0,
            photos=_photo(request),
        )
        row = _with_counts(disputes_for_courier(user=request.user)).get(pk=dispute.pk)
        return Response(DisputeOutputSerializer(row).data, status=status.HTTP_201_CREATED)


class CourierDisputeReplyApi(APIView):
    """The courier's statement (and optionally one photo, multipart) while the dispute waits
    for it; it goes to review. Late or twice: 409 ``invalid_dispute_state``."""

    permission_classes = [IsCourier]
    parser_classes = [StrictJSONParser, MultiPartParser]

    class InputSerializer(serializers.Serializer):
        statement = StrictCharField(max_length=5000)

    class MultipartInputSerializer(InputSerializer):
        photo = serializers.FileField(required=False)

    @extend_schema(
        request={
            "application/json": InputSerializer,
            "multipart/form-data": MultipartInputSerializer,
        },
        responses={
            200: DisputeDetailOutputSerializer,
            **error_responses(
                {
                    400: NOT_AN_IMAGE,
                    409: "`invalid_dispute_state`: not waiting for the courier, or too late.",
                    413: "`image_too_large`.",
                }
            ),
        },
        tags=["courier"],
    )
    def post(self, request: Request, pk: UUID) -> Response:
        dispute = disputes_for_courier(user=request.user).filter(pk=pk).first()
        if dispute is None:
            raise NotFoundError("No such dispute.")
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        dispute_courier_reply(
            dispute=dispute,
            actor=request.user,
            statement=serializer.validated_data["statement"],
            photos=_photo(request),
        )
        row = _with_counts(disputes_for_courier(user=request.user)).get(pk=pk)
        return Response(_detail(row, party="courier"))


__all__ = [
    "CourierDisputeReplyApi",
    "CourierDisputesApi",
    "DisputeDetailApi",
    "JobDisputesApi",
]
