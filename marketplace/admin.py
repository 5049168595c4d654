"""Admin for users and shops."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import models
from django.http import HttpRequest

from marketplace.admin_widgets import LatLngAdminMixin
from marketplace.models import Shop, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "email", "shop", "is_staff", "is_active", "date_joined"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]
    list_select_related = ["shop"]
    raw_id_fields = ["shop"]
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        ("Marketplace", {"fields": ["shop", "phone"]}),
    ]


class MemberInline(admin.TabularInline):
    model = User
    fields = ["username", "email", "is_active"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name = "staff user"

    def has_add_permission(self, request: HttpRequest, obj: Shop | None = None) -> bool:
        return False


@admin.register(Shop)
class ShopAdmin(LatLngAdminMixin, admin.ModelAdmin):
    list_display = ["name", "default_pickup_address", "webhook_url", "is_sandbox", "created_at"]
    list_filter = ["is_sandbox"]
    search_fields = ["name", "default_pickup_address"]
    # The shop sets its webhook URL through the API (PUT shop/webhook/), whose service
    # refuses private and non-https targets; typed here it would skip those checks.
    readonly_fields = ["webhook_url", "created_at", "updated_at"]
    inlines = [MemberInline]
    # Django 6 makes https the default scheme for bare domains; say so now.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
