"""Routes of the jobs API, included under /api/v1/ by marketplace.urls."""

from django.urls import path

from jobs.api import shop as shop_api

urlpatterns: list = [
    # Shop side: quotes, posting, reading, cancelling.
    path("quotes/", shop_api.QuoteCreateApi.as_view(), name="quote-create"),
    path("jobs/", shop_api.JobListCreateApi.as_view(), name="job-list"),
    path("jobs/<uuid:pk>/", shop_api.JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<uuid:pk>/events/", shop_api.JobEventsApi.as_view(), name="job-events"),
    path("jobs/<uuid:pk>/cancel/", shop_api.JobCancelApi.as_view(), name="job-cancel"),
    path("jobs/<uuid:pk>/repost/", shop_api.JobRepostApi.as_view(), name="job-repost"),
]
