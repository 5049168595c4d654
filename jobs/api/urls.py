"""Routes of the jobs API, included under /api/v1/ by marketplace.urls."""

from django.urls import path

from jobs.api import courier as courier_api
from jobs.api import offers as offers_api
from jobs.api import proof as proof_api
from jobs.api import sandbox as sandbox_api
from jobs.api import shop as shop_api
from jobs.api import webhooks as webhook_api
from jobs.tracking import api as tracking_api

urlpatterns: list = [
    # Shop side: quotes, posting, reading, cancelling.
    path("quotes/", shop_api.QuoteCreateApi.as_view(), name="quote-create"),
    path("jobs/", shop_api.JobListCreateApi.as_view(), name="job-list"),
    path("jobs/<uuid:pk>/", shop_api.JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<uuid:pk>/events/", shop_api.JobEventsApi.as_view(), name="job-events"),
    path("jobs/<uuid:pk>/cancel/", shop_api.JobCancelApi.as_view(), name="job-cancel"),
    path("jobs/<uuid:pk>/repost/", shop_api.JobRepostApi.as_view(), name="job-repost"),
    # Sandbox shops: move a job one step with the built-in robo courier.
    path(
        "sandbox/jobs/<uuid:pk>/advance/",
        sandbox_api.SandboxJobAdvanceApi.as_view(),
        name="sandbox-job-advance",
    ),
    # Shop webhooks: configuration and recent deliveries.
    path("shop/webhook/", webhook_api.ShopWebhookApi.as_view(), name="shop-webhook"),
    path(
        "shop/webhook/deliveries/",
        webhook_api.ShopWebhookDeliveryListApi.as_view(),
        name="shop-webhook-deliveries",
    ),
]

# Courier steps and proof of delivery.
_courier_job = "courier/jobs/<uuid:pk>/"
urlpatterns += [
    path("courier/jobs/", courier_api.CourierJobListApi.as_view(), name="courier-jobs"),
    path(_courier_job, courier_api.CourierJobDetailApi.as_view(), name="courier-job"),
    path(
        _courier_job + "arrive-pickup/",
        courier_api.CourierJobArrivePickupApi.as_view(),
        name="courier-job-arrive-pickup",
    ),
    path(
        _courier_job + "pickup/",
        courier_api.CourierJobPickupApi.as_view(),
        name="courier-job-pickup",
    ),
    path(
        _courier_job + "arrive-dropoff/",
        courier_api.CourierJobArriveDropoffApi.as_view(),
        name="courier-job-arrive-dropoff",
    ),
    path(
        _courier_job + "deliver/",
        courier_api.CourierJobDeliverApi.as_view(),
        name="courier-job-deliver",
    ),
    path(_courier_job + "fail/", courier_api.CourierJobFailApi.as_view(), name="courier-job-fail"),
    path(
        _courier_job + "returned/",
        courier_api.CourierJobReturnedApi.as_view(),
        name="courier-job-returned",
    ),
    path(_courier_job + "drop/", courier_api.CourierJobDropApi.as_view(), name="courier-job-drop"),
    path("jobs/<uuid:pk>/proof/", proof_api.JobProofApi.as_view(), name="job-proof"),
    path(
        "jobs/<uuid:pk>/photos/<uuid:photo_pk>/",
        proof_api.JobPhotoApi.as_view(),
        name="job-photo",
    ),
    path("jobs/<uuid:pk>/pin/unlock/", proof_api.JobPinUnlockApi.as_view(), name="job-pin-unlock"),
]

# Dispatch: the courier's offers.
urlpatterns += [
    path("courier/offers/", offers_api.CourierOfferListApi.as_view(), name="courier-offers"),
    path(
        "courier/offers/<uuid:offer_id>/accept/",
        offers_api.CourierOfferAcceptApi.as_view(),
        name="courier-offer-accept",
    ),
    path(
        "courier/offers/<uuid:offer_id>/decline/",
        offers_api.CourierOfferDeclineApi.as_view(),
        name="courier-offer-decline",
    ),
]

# The recipient's tracking link (anonymous: the token is the credential) and its rotation.
_track = "track/<str:token>/"
urlpatterns += [
    path(_track, tracking_api.TrackingApi.as_view(), name="tracking"),
    path(
        _track + "instructions/",
        tracking_api.TrackingInstructionsApi.as_view(),
        name="tracking-instructions",
    ),
    path(
        _track + "delivery-option/",
        tracking_api.TrackingDeliveryOptionApi.as_view(),
        name="tracking-delivery-option",
    ),
    path(
        _track + "reschedule/",
        tracking_api.TrackingRescheduleApi.as_view(),
        name="tracking-reschedule",
    ),
    path(_track + "rating/", tracking_api.TrackingRatingApi.as_view(), name="tracking-rating"),
    path(_track + "problem/", tracking_api.TrackingProblemApi.as_view(), name="tracking-problem"),
    path(
        _track + "photos/<uuid:photo_pk>/",
        tracking_api.TrackingPhotoApi.as_view(),
        name="tracking-photo",
    ),
    path(
        "jobs/<uuid:pk>/tracking/rotate/",
        tracking_api.JobTrackingRotateApi.as_view(),
        name="job-tracking-rotate",
    ),
]
