"""Routes of the payments API (mounted under /api/v1/)."""

from django.urls import path

from payments.api import views
from payments.disputes import api as disputes

urlpatterns = [
    path(
        "payments/shop/setup-intent/", views.ShopSetupIntentApi.as_view(), name="shop-setup-intent"
    ),
    path(
        "payments/shop/payment-method/",
        views.ShopPaymentMethodApi.as_view(),
        name="shop-payment-method",
    ),
    path("jobs/<uuid:pk>/tip/", views.JobTipApi.as_view(), name="job-tip"),
    path(
        "courier/payouts/onboarding/",
        views.CourierPayoutOnboardingApi.as_view(),
        name="courier-payouts-onboarding",
    ),
    path("courier/payouts/", views.CourierPayoutsApi.as_view(), name="courier-payouts"),
    path("courier/earnings/", views.CourierEarningsApi.as_view(), name="courier-earnings"),
    path("jobs/<uuid:pk>/disputes/", disputes.JobDisputesApi.as_view(), name="job-disputes"),
    path("disputes/<uuid:pk>/", disputes.DisputeDetailApi.as_view(), name="dispute-detail"),
    path("courier/disputes/", disputes.CourierDisputesApi.as_view(), name="courier-disputes"),
    path(
        "courier/disputes/<uuid:pk>/reply/",
        disputes.CourierDisputeReplyApi.as_view(),
        name="courier-dispute-reply",
    ),
    path("payments/stripe/webhook/", views.StripeWebhookApi.as_view(), name="stripe-webhook"),
    path(
        "payments/stripe/connect-webhook/",
        views.StripeConnectWebhookApi.as_view(),
        name="stripe-connect-webhook",
    ),
]
