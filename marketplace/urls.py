"""URL routes: the versioned REST API, its schema and docs, admin, health, tracking pages."""

from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from couriers import api as courier_api
from jobs.tracking.pages import tracking_page
from marketplace.admin_login import throttled_admin_login
from marketplace.api import views as core_api
from marketplace.api.docs import RedocDocsView, SwaggerDocsView
from marketplace.api.errors import error_body
from marketplace.health import healthz

api_v1 = [
    path("auth/register/shop/", core_api.ShopRegisterApi.as_view(), name="register-shop"),
    path(
        "auth/register/courier/",
        courier_api.CourierRegisterApi.as_view(),
        name="register-courier",
    ),
    path("auth/token/", core_api.TokenObtainApi.as_view(), name="token"),
    path("shop/me/", core_api.ShopMeApi.as_view(), name="shop-me"),
    path("courier/me/", courier_api.CourierMeApi.as_view(), name="courier-me"),
    path(
        "courier/availability/",
        courier_api.CourierAvailabilityApi.as_view(),
        name="courier-availability",
    ),
    path("courier/location/", courier_api.CourierLocationApi.as_view(), name="courier-location"),
    path("", include("jobs.api.urls")),
    path("", include("payments.api.urls")),
]

urlpatterns = [
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SwaggerDocsView.as_view(url_name="schema"), name="docs"),
    path("api/redoc/", RedocDocsView.as_view(url_name="schema"), name="redoc"),
    # Before admin.site.urls, so the admin's own login URL resolves to the throttled view.
    path("admin/login/", throttled_admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("t/<str:token>", tracking_page, name="tracking-page"),
]


def handler404(request, exception=None):
    """Unknown URLs answer in the API's error shape, not an HTML page."""

    return JsonResponse(error_body("not_found", f"No route for {request.path}."), status=404)


def handler500(request):

    return JsonResponse(
        error_body("server_error", "Something went wrong on our side; it has been logged."),
        status=500,
    )
