"""Shop endpoints for webhooks: set, show and turn off the URL; list recent deliveries."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.models import WebhookDelivery, WebhookStatus
from jobs.webhooks import (
    shop_webhook_disable,
    shop_webhook_set,
    webhook_deliveries_for_shop,
    webhook_event_type,
    webhook_secret_hint,
)
from marketplace.api.fields import StrictBooleanField
from marketplace.api.pagination import PAGE_PARAMETERS, PageNumberPagination
from marketplace.api.permissions import IsShop
from marketplace.api.serializers import QuerySerializer

URL_MAX_LENGTH = 500  # Shop.webhook_url and WebhookDelivery.url


class WebhookConfigSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    url = serializers.URLField(allow_null=True)
    secret_hint = serializers.CharField(allow_null=True, help_text="e.g. whsec_...a1b2")


def _config(shop: Any) -> dict[str, Any]:
    return {
        "enabled": bool(shop.webhook_url),
        "url": shop.webhook_url or None,
        "secret_hint": webhook_secret_hint(shop.webhook_secret) if shop.webhook_url else None,
    }


class ShopWebhookApi(APIView):
    """The shop's webhook endpoint: where job events are POSTed, signed with its secret."""

    permission_classes = [IsShop]

    class InputSerializer(serializers.Serializer):
        url = serializers.URLField(max_length=URL_MAX_LENGTH)
        rotate_secret = StrictBooleanField(required=False, default=False)

    class OutputSerializer(WebhookConfigSerializer):
        secret = serializers.CharField(help_text="Verify X-Marketplace-Signature with this.")
        secret_rotated = serializers.BooleanField()

    @extend_schema(responses={200: WebhookConfigSerializer}, tags=["shop"])
    def get(self, request: Request) -> Response:
        return Response(WebhookConfigSerializer(_config(request.user.shop)).data)

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer}, tags=["shop"])
    def put(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        shop, rotated = shop_webhook_set(
            shop=request.user.shop, actor=request.user, **data.validated_data
        )
        body = {**_config(shop), "secret": shop.webhook_secret, "secret_rotated": rotated}
        return Response(self.OutputSerializer(body).data)

    @extend_schema(request=None, responses={204: None}, tags=["shop"])
    def delete(self, request: Request) -> Response:
        shop_webhook_disable(shop=request.user.shop, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ShopWebhookDeliveryListApi(APIView):
    """Recent webhook deliveries, newest first, each with its attempts (for debugging)."""

    permission_classes = [IsShop]

    class FilterSerializer(QuerySerializer):
        status = serializers.ChoiceField(choices=WebhookStatus.choices, required=False)

    class OutputSerializer(serializers.Serializer):
        class AttemptSerializer(serializers.Serializer):
            attempted_at = serializers.DateTimeField()
            status_code = serializers.IntegerField(allow_null=True)
            error = serializers.CharField()
            duration_ms = serializers.IntegerField()

        id = serializers.UUIDField()
        event_type = serializers.SerializerMethodField()
        job_id = serializers.UUIDField(source="event.job_id")
        seq = serializers.IntegerField(source="event.seq")
        url = serializers.URLField()
        status = serializers.ChoiceField(choices=WebhookStatus.choices)
        attempt_count = serializers.IntegerField()
        next_attempt_at = serializers.SerializerMethodField()
        delivered_at = serializers.DateTimeField(allow_null=True)
        created_at = serializers.DateTimeField()
        attempts = AttemptSerializer(many=True)

        def get_event_type(self, delivery: WebhookDelivery) -> str:
            return webhook_event_type(delivery.event)

        @extend_schema_field(serializers.DateTimeField(allow_null=True))
        def get_next_attempt_at(self, delivery: WebhookDelivery) -> str | None:
            if delivery.status != WebhookStatus.PENDING:
                return None
            return serializers.DateTimeField().to_representation(delivery.next_attempt_at)

    class PageSerializer(serializers.Serializer):
        count = serializers.IntegerField()
        next = serializers.URLField(allow_null=True)
        previous = serializers.URLField(allow_null=True)

    @extend_schema(
        parameters=[
            FilterSerializer,
            *PAGE_PARAMETERS,
        ],
        responses={
            200: type(
                "WebhookDeliveryPage",
                (PageSerializer,),
                {"results": OutputSerializer(many=True)},
            )
        },
        tags=["shop"],
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        deliveries = webhook_deliveries_for_shop(shop=request.user.shop, **filters.validated_data)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(deliveries, request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)
