"""Routes of the jobs API, included under /api/v1/ by marketplace.urls."""

from django.urls import path  # noqa: F401 - used as routes are added

urlpatterns: list = []
