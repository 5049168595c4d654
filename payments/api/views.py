"""Thin views over the payments services: parse, call one service, render."""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.api.fields import StrictCharField, StrictDateField, StrictIntegerField
from marketplace.api.permissions import IsCourier, IsShop
from marketplace.api.schema import error_responses
from marketplace.api.serializers import QuerySerializer
from payments.billing import (
    MINIMUM_CHARGE_MINOR,
    job_tip,
    shop_payment_method_set,
    shop_setup_intent_create,
)
from payments.models import CourierPayoutAccount, ShopBilling, Transfer
from payments.payouts import courier_onboarding_link
from payments.selectors import courier_earnings
from payments.webhooks import stripe_event_receive

CARD_ERRORS = {
    402: (
        "`payment_method_required` (no card saved), `payment_declined`, or "
        "`payment_authentication_required` (the card needs the cardholder; use another)."
    ),
    503: "`payment_unavailable`: Stripe did not answer (or is not configured); repeat the request.",
}
UNAVAILABLE = {503: CARD_ERRORS[503]}
SANDBOX_LIVE_KEY = (
    "`sandbox_live_key`: a sandbox account's money never moves with a live Stripe key."
)
# The money endpoints a sandbox shop or robo courier may call: unavailable, or refused.
MONEY_ERRORS = {**UNAVAILABLE, 409: SANDBOX_LIVE_KEY}


class CardOutputSerializer(serializers.Serializer):
    payment_method = serializers.CharField(source="payment_method_id", allow_null=True)
    brand = serializers.CharField(source="card_brand", allow_null=True)
    last4 = serializers.CharField(source="card_last4", allow_null=True)
    exp_month = serializers.IntegerField(source="card_exp_month", allow_null=True)
    exp_year = serializers.IntegerField(source="card_exp_year", allow_null=True)
    customer_id = serializers.CharField(allow_null=True)


def _card(billing: ShopBilling | None) -> dict[str, Any]:
    if billing is None or not billing.payment_method_id:
        return {
            "payment_method": None,
            "brand": None,
            "last4": None,
            "exp_month": None,
            "exp_year": None,
            "customer_id": billing.customer_id if billing else None,
        }
    return CardOutputSerializer(billing).data


class ShopSetupIntentApi(APIView):
    """A SetupIntent for a front end to save a card with Stripe.js."""

    permission_classes = [IsShop]

    class OutputSerializer(serializers.Serializer):
        client_secret = serializers.CharField()
        customer_id = serializers.CharField()
        setup_intent_id = serializers.CharField()

    @extend_schema(
        request=None,
        responses={201: OutputSerializer, **error_responses(MONEY_ERRORS)},
        tags=["payments"],
    )
    def post(self, request: Request) -> Response:
        result = shop_setup_intent_create(shop=request.user.shop, actor=request.user)
        body = {
            "client_secret": result.client_secret,
            "customer_id": result.customer_id,
            "setup_intent_id": result.id,
        }
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)


class ShopPaymentMethodApi(APIView):
    """The shop's default card: show it (brand, last four) or replace it."""

    permission_classes = [IsShop]

    class InputSerializer(serializers.Serializer):
        payment_method = StrictCharField(
            max_length=255,
            validators=[RegexValidator(r"^pm_[A-Za-z0-9_]+\Z", "A Stripe payment method id.")],
            help_text="A PaymentMethod id from Stripe.js, e.g. `pm_card_visa` with the stand-in.",
        )

    @extend_schema(responses={200: CardOutputSerializer}, tags=["payments"])
    def get(self, request: Request) -> Response:
        return Response(_card(ShopBilling.objects.filter(shop=request.user.shop).first()))

    @extend_schema(
        request=InputSerializer,
        responses={
            200: CardOutputSerializer,
            **error_responses(
                {
                    400: "`invalid_payment_method`: Stripe did not accept it (unknown, "
                    "declined or expired); or `validation_error`.",
                    **MONEY_ERRORS,
                }
            ),
        },
        tags=["payments"],
    )
    def put(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        billing = shop_payment_method_set(
            shop=request.user.shop,
            actor=request.user,
            payment_method_id=data.validated_data["payment_method"],
        )
        return Response(_card(billing))


class JobTipApi(APIView):
    """Tip the courier of a delivered job, once, within TIP_WINDOW_DAYS; all goes to them."""

    permission_classes = [IsShop]

    class InputSerializer(serializers.Serializer):
        amount_minor = StrictIntegerField(min_value=MINIMUM_CHARGE_MINOR, max_value=100_000_00)

    class OutputSerializer(serializers.Serializer):
        job_id = serializers.UUIDField()
        amount_minor = serializers.IntegerField()
        currency = serializers.CharField()
        status = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            **error_responses(
                {
                    404: "`not_found`: no such job of this shop.",
                    409: "`tip_not_allowed`: not delivered, already tipped, or too late; "
                    + SANDBOX_LIVE_KEY,
                    **CARD_ERRORS,
                }
            ),
        },
        tags=["payments"],
    )
    def post(self, request: Request, pk: Any) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tip = job_tip(
            shop=request.user.shop,
            actor=request.user,
            job_pk=pk,
            amount_minor=data.validated_data["amount_minor"],
        )
        return Response(self.OutputSerializer(tip).data, status=status.HTTP_201_CREATED)


class PayoutAccountOutputSerializer(serializers.Serializer):
    account_id = serializers.CharField()
    payouts_enabled = serializers.BooleanField()
    charges_enabled = serializers.BooleanField()
    details_submitted = serializers.BooleanField()
    requirements_due = serializers.ListField(child=serializers.CharField())


class CourierPayoutOnboardingApi(APIView):
    """Create the courier's Stripe Express account (once) and a fresh onboarding link."""

    permission_classes = [IsCourier]

    class OutputSerializer(serializers.Serializer):
        url = serializers.URLField(help_text="Single use; ask again for a new one.")
        account = PayoutAccountOutputSerializer()

    @extend_schema(
        request=None,
        responses={200: OutputSerializer, **error_responses(MONEY_ERRORS)},
        tags=["courier payouts"],
    )
    def post(self, request: Request) -> Response:
        account, url = courier_onboarding_link(courier=request.user.courier)
        return Response(self.OutputSerializer({"url": url, "account": account}).data)


class CourierPayoutsApi(APIView):
    """The courier's payout account state and their transfers, newest first."""

    permission_classes = [IsCourier]

    class TransferOutputSerializer(serializers.Serializer):
        job_id = serializers.UUIDField()
        kind = serializers.CharField()
        amount_minor = serializers.IntegerField()
        currency = serializers.CharField()
        state = serializers.CharField(
            help_text="held (payouts not enabled yet), pending, paid, failed."
        )
        transfer_id = serializers.CharField(source="stripe_transfer_id", allow_null=True)
        amount_reversed_minor = serializers.IntegerField()
        created_at = serializers.DateTimeField()

    class OutputSerializer(serializers.Serializer):
        account = PayoutAccountOutputSerializer(allow_null=True)
        transfers = serializers.ListField(child=serializers.DictField())

    @extend_schema(responses={200: OutputSerializer}, tags=["courier payouts"])
    def get(self, request: Request) -> Response:
        courier = request.user.courier
        account = CourierPayoutAccount.objects.filter(courier=courier).first()
        transfers = Transfer.objects.filter(courier=courier).order_by("-created_at")[:200]
        return Response(
            {
                "account": PayoutAccountOutputSerializer(account).data if account else None,
                "transfers": self.TransferOutputSerializer(transfers, many=True).data,
            }
        )


class EarningsTimelineOutputSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = serializers.CharField()
    amount_minor = serializers.IntegerField()


class EarningsTransferOutputSerializer(serializers.Serializer):
    kind = serializers.CharField()
    amount_minor = serializers.IntegerField()
    state = serializers.CharField()
    transfer_id = serializers.CharField(allow_null=True)


class EarningsJobOutputSerializer(serializers.Serializer):
    job_id = serializers.UUIDField(allow_null=True)
    currency = serializers.CharField()
    earned_minor = serializers.IntegerField()
    transferred_minor = serializers.IntegerField()
    adjustments_minor = serializers.IntegerField()
    payout_minor = serializers.IntegerField()
    tip_minor = serializers.IntegerField()
    fee_share_minor = serializers.IntegerField()
    transfers = EarningsTransferOutputSerializer(many=True)
    timeline = EarningsTimelineOutputSerializer(many=True)


class CourierEarningsApi(APIView):
    """Per job: earned, transferred, adjustments, the transfers and the money timeline."""

    permission_classes = [IsCourier]

    class FilterSerializer(QuerySerializer):
        def get_fields(self) -> dict[str, serializers.Field]:
            # "from" is a Python keyword, so the fields are named here, not as attributes.
            return {
                "from": StrictDateField(source="date_from", required=False),
                "to": StrictDateField(source="date_to", required=False),
            }

    class OutputSerializer(serializers.Serializer):
        owed = serializers.DictField(
            child=serializers.IntegerField(), help_text="Currency → minor units still owed."
        )
        transferred = serializers.DictField(
            child=serializers.IntegerField(), help_text="Currency → minor units transferred."
        )
        jobs = EarningsJobOutputSerializer(many=True)

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="First day, inclusive."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last day, inclusive."),
        ],
        responses={200: OutputSerializer},
        tags=["courier payouts"],
    )
    def get(self, request: Request) -> Response:
        data = self.FilterSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        earnings = courier_earnings(courier_id=request.user.courier.pk, **data.validated_data)
        return Response(self.OutputSerializer(earnings).data)


STRIPE_SIGNATURE = OpenApiParameter(
    "Stripe-Signature",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description='`t=<unix time>,v1=<HMAC-SHA256 of "t.body">`, as Stripe signs it.',
)
WEBHOOK_ERRORS = error_responses(
    {
        400: "`invalid_signature`: the Stripe-Signature header is missing, malformed, wrong "
        "for this body and endpoint's secret, or older than 300 s; nothing is stored.",
        503: "`payment_unavailable`: payments are not configured here (no STRIPE_SECRET_KEY).",
    }
)


@extend_schema_serializer(component_name="StripeEvent")
class StripeEventInputSerializer(serializers.Serializer):
    """For the schema only: the body is read raw (the signature covers its exact bytes)."""

    id = serializers.CharField()
    type = serializers.CharField()


class _StripeWebhookApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    # Stripe sends bursts from few addresses; the signature, not a rate, keeps others out.
    throttle_classes: list = []
    connect = False

    class OutputSerializer(serializers.Serializer):
        received = serializers.BooleanField()
        duplicate = serializers.BooleanField()

    def post(self, request: Request) -> Response:
        _, created = stripe_event_receive(
            payload=request.body,
            signature_header=request.headers.get("Stripe-Signature", ""),
            connect=self.connect,
        )
        return Response({"received": True, "duplicate": not created})


class StripeWebhookApi(_StripeWebhookApi):
    """Platform events from Stripe, verified with STRIPE_WEBHOOK_SECRET (300 s tolerance)."""

    @extend_schema(
        request=StripeEventInputSerializer,
        parameters=[STRIPE_SIGNATURE],
        responses={200: _StripeWebhookApi.OutputSerializer, **WEBHOOK_ERRORS},
        tags=["stripe"],
    )
    def post(self, request: Request) -> Response:
        return super().post(request)


class StripeConnectWebhookApi(_StripeWebhookApi):
    """Connected-account events, verified with STRIPE_CONNECT_WEBHOOK_SECRET."""

    connect = True

    @extend_schema(
        request=StripeEventInputSerializer,
        parameters=[STRIPE_SIGNATURE],
        responses={200: _StripeWebhookApi.OutputSerializer, **WEBHOOK_ERRORS},
        tags=["stripe"],
    )
    def post(self, request: Request) -> Response:
        return super().post(request)
