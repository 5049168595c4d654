"""Courier offer endpoints: list open offers, accept one, decline one."""

from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.dispatch import offer_accept, offer_data, offer_decline, offers_pending_for_courier
from jobs.models import JobStatus, OfferStatus
from marketplace.api.fields import StrictCharField
from marketplace.api.permissions import IsCourier
from marketplace.api.schema import error_responses


class _OfferStopSerializer(serializers.Serializer):
    address = serializers.CharField()
    lat = serializers.FloatField()
    lng = serializers.FloatField()


class _PickupSerializer(_OfferStopSerializer):
    after = serializers.DateTimeField(allow_null=True, help_text="Earliest pickup, if set.")


class _DropoffSerializer(_OfferStopSerializer):
    before = serializers.DateTimeField(allow_null=True, help_text="Latest delivery, if set.")


class OfferOutputSerializer(serializers.Serializer):
    """Documents ``jobs.dispatch.offer_data``: the list item and the ``offer`` frame's body."""

    offer_id = serializers.UUIDField()
    job_id = serializers.UUIDField()
    expires_at = serializers.DateTimeField()
    pickup = _PickupSerializer()
    dropoff = _DropoffSerializer()
    distance_m = serializers.IntegerField(help_text="Your distance to the pickup when offered.")
    trip_distance_m = serializers.IntegerField(help_text="Pickup to dropoff.")
    payout_minor = serializers.IntegerField(help_text="What you earn, in minor units.")
    tip_minor = serializers.IntegerField()
    currency = serializers.CharField()
    package_size = serializers.CharField()
    dispatch_round = serializers.IntegerField()


class OfferAnswerOutputSerializer(serializers.Serializer):
    offer_id = serializers.UUIDField(source="pk")
    status = serializers.ChoiceField(choices=OfferStatus.choices)
    job_id = serializers.UUIDField()
    job_status = serializers.ChoiceField(choices=JobStatus.choices, source="job.status")


class CourierOfferListApi(APIView):
    """Your open offers (pending, unexpired, job still on offer), soonest deadline first.

    Not paginated: a courier holds at most one open offer at a time.
    """

    permission_classes = [IsCourier]

    @extend_schema(responses={200: OfferOutputSerializer(many=True)}, tags=["courier"])
    def get(self, request: Request) -> Response:
        offers = offers_pending_for_courier(courier=request.user.courier)
        return Response([offer_data(offer) for offer in offers])


class CourierOfferAcceptApi(APIView):
    """Take the offered job. Exactly one courier wins a job; the others get 409
    ``offer_no_longer_available`` (also when the offer expired or you hold another job)."""

    permission_classes = [IsCourier]

    @extend_schema(
        request=None,
        responses={
            200: OfferAnswerOutputSerializer,
            **error_responses(
                {409: "`offer_no_longer_available`: expired, taken, or you hold another job."}
            ),
        },
        tags=["courier"],
    )
    def post(self, request: Request, offer_id: UUID) -> Response:
        offer = offer_accept(offer_pk=offer_id, courier=request.user.courier)
        return Response(OfferAnswerOutputSerializer(offer).data)


class CourierOfferDeclineApi(APIView):
    """Say no to an offer (optionally why); the job moves on to the next courier."""

    permission_classes = [IsCourier]

    class InputSerializer(serializers.Serializer):
        reason = StrictCharField(max_length=200, required=False, allow_blank=True, default="")

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OfferAnswerOutputSerializer,
            **error_responses(
                {409: "`offer_no_longer_available`: expired, taken, or you hold another job."}
            ),
        },
        tags=["courier"],
    )
    def post(self, request: Request, offer_id: UUID) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        offer = offer_decline(
            offer_pk=offer_id, courier=request.user.courier, reason=data.validated_data["reason"]
        )
        return Response(OfferAnswerOutputSerializer(offer).data)
