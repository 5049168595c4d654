"""Admin for couriers: looking up, and editing what no service owns.

Status, vehicle and capacity, the position's trust and freshness, rating and acceptance
are written only by the services (going online/offline, busy/available with a job,
ratings, offer answers), with their checks; here they are read-only. ``is_robo`` (a
simulated courier, matched only with sandbox shops' jobs) is set here. Couriers sign up
through the API, so the admin adds none.
"""

from django.contrib import admin
from django.http import HttpRequest

from couriers.models import Courier
from marketplace.admin_widgets import LatLngAdminMixin


@admin.register(Courier)
class CourierAdmin(LatLngAdminMixin, admin.ModelAdmin):
    list_display = ["user", "vehicle", "capacity", "status", "is_robo", "rating", "last_seen_at"]
    list_filter = ["status", "vehicle", "capacity", "is_robo"]
    search_fields = ["user__username", "user__email", "user__phone"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    readonly_fields = [
        "status",
        "vehicle",
        "capacity",
        "is_position_trusted",
        "position_recorded_at",
        "last_seen_at",
        "acceptance_rate",
        "rating",
        "rating_count",
        "rating_stars_total",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
