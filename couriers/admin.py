"""Admin for couriers."""

from django.contrib import admin

from couriers.models import Courier
from marketplace.admin_widgets import LatLngAdminMixin


@admin.register(Courier)
class CourierAdmin(LatLngAdminMixin, admin.ModelAdmin):
    list_display = ["user", "vehicle", "capacity", "status", "rating", "last_seen_at"]
    list_filter = ["status", "vehicle", "capacity"]
    search_fields = ["user__username", "user__email", "user__phone"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    readonly_fields = ["created_at", "updated_at"]
