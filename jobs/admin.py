"""Admin for zones (area as GeoJSON or WKT with an offline Leaflet map), quotes and jobs.

Jobs and quotes are read-only here: a job's status changes only through job_transition,
so the admin shows the job and its events and never edits them.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from couriers.models import Capacity, Vehicle
from jobs.courier_steps import PinNotLocked, job_pin_unlock
from jobs.models import Job, JobEvent, ProofOfDelivery, Quote, ServiceZone
from jobs.zones import parse_area


class ZoneAreaWidget(forms.Textarea):
    """A GeoJSON/WKT textarea with a Leaflet map that shows it and can draw it.

    Everything is served from our static files (Leaflet and Leaflet.draw ship with
    django-leaflet); tiles are drawn only when MAP_TILE_URL is set.
    """

    template_name = "jobs/widgets/zone_area.html"

    class Media:
        css = {"all": ["leaflet/leaflet.css", "leaflet/draw/leaflet.draw.css"]}
        js = ["leaflet/leaflet.js", "leaflet/draw/leaflet.draw.js", "jobs/zone_area_widget.js"]

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs={"rows": 12, "cols": 80, "spellcheck": "false", **(attrs or {})})

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, GEOSGeometry):
            return json.dumps(json.loads(value.json))
        return super().format_value(value)

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["map"] = {
            "tile_url": settings.MAP_TILE_URL,
            "attribution": settings.MAP_TILE_ATTRIBUTION,
        }
        return context


class ZoneAreaField(forms.CharField):
    widget = ZoneAreaWidget

    def prepare_value(self, value: Any) -> Any:
        return value

    def to_python(self, value: Any) -> MultiPolygon | None:
        if isinstance(value, GEOSGeometry):
            return value
        text = super().to_python(value)
        if not text:
            return None
        return parse_area(text)

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.to_python(data) != initial
        except ValidationError:
            return True


def _factors(value: Any, keys: list[str], minimum: Decimal, what: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValidationError(f'An object of {what} factors, e.g. {{"{keys[0]}": "1.00"}}.')
    missing = sorted(set(keys) - set(value))
    unknown = sorted(set(value) - set(keys))
    if missing or unknown:
        raise ValidationError(
            f"Give exactly these keys: {', '.join(keys)}"
            + (f" (missing {', '.join(missing)})" if missing else "")
            + (f" (unknown {', '.join(unknown)})" if unknown else "")
            + "."
        )
    cleaned = {}
    for key in keys:
        raw = value[key]
        try:
            factor = Decimal(str(raw)) if not isinstance(raw, bool) else None
        except InvalidOperation:
            factor = None
        if factor is None or not factor.is_finite() or factor < minimum or factor > 100:
            raise ValidationError(f"{key}: a number from {minimum} to 100.")
        cleaned[key] = str(factor.quantize(Decimal("0.01")))
    return cleaned


class ServiceZoneForm(forms.ModelForm):
    area = ZoneAreaField(
        help_text=(
            "GeoJSON (Polygon, MultiPolygon, Feature or FeatureCollection; [longitude, "
            "latitude]) or WKT (POLYGON/MULTIPOLYGON), WGS 84. Paste it, or draw on the map."
        )
    )

    class Meta:
        model = ServiceZone
        fields = [
            "name",
            "is_active",
            "area",
            "currency",
            "base_fee_minor",
            "per_km_minor",
            "minimum_fee_minor",
            "size_factors",
            "vehicle_factors",
            "surge_cap",
            "platform_fee_percent",
            "cancellation_fee_minor",
            "dispatch_mode",
        ]

    def clean_currency(self) -> str:
        currency = self.cleaned_data["currency"].strip().lower()
        if len(currency) != 3 or not currency.isalpha():
            raise ValidationError("A three-letter ISO 4217 code, e.g. eur.")
        return currency

    def clean_size_factors(self) -> dict[str, str]:
        return _factors(
            self.cleaned_data["size_factors"], Capacity.values, Decimal(1), "package size"
        )

    def clean_vehicle_factors(self) -> dict[str, str]:
        return _factors(
            self.cleaned_data["vehicle_factors"], Vehicle.values, Decimal("0.01"), "vehicle"
        )


@admin.register(ServiceZone)
class ServiceZoneAdmin(admin.ModelAdmin):
    form = ServiceZoneForm
    list_display = [
        "name",
        "is_active",
        "currency",
        "base_fee_minor",
        "per_km_minor",
        "minimum_fee_minor",
        "surge_cap",
        "platform_fee_percent",
        "updated_at",
    ]
    list_filter = ["is_active", "currency"]
    search_fields = ["name"]
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "is_active", "area"]}),
        (
            "Prices (integer minor units)",
            {
                "fields": [
                    "currency",
                    "base_fee_minor",
                    "per_km_minor",
                    "minimum_fee_minor",
                    "size_factors",
                    "vehicle_factors",
                    "surge_cap",
                    "platform_fee_percent",
                    "cancellation_fee_minor",
                ]
            },
        ),
        ("Dispatch", {"fields": ["dispatch_mode"]}),
        ("History", {"fields": ["created_at", "updated_at"]}),
    ]


# --- Read-only views of quotes and jobs ----------------------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Quote)
class QuoteAdmin(ReadOnlyAdmin):
    list_display = ["id", "shop", "zone", "distance_m", "total_minor", "currency", "expires_at"]
    list_select_related = ["shop", "zone"]
    search_fields = ["id", "shop__name"]
    date_hierarchy = "created_at"


class JobEventInline(admin.TabularInline):
    model = JobEvent
    fields = ["seq", "from_status", "to_status", "actor", "actor_role", "reason", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["seq"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("actor")


class ProofOfDeliveryInline(admin.StackedInline):
    model = ProofOfDelivery
    fields = [
        "is_pin_verified",
        "recipient_name",
        "distance_to_dropoff_m",
        "is_outside_geofence",
        "geofence_reason",
        "photo",
        "signature",
        "created_at",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    """Jobs as they are, with their history; statuses change only through the services."""

    list_display = [
        "id",
        "shop",
        "status",
        "courier",
        "total_minor",
        "currency",
        "delivery_option",
        "external_ref",
        "created_at",
    ]
    list_filter = ["status", "delivery_option", "needs_review", "zone"]
    list_select_related = ["shop", "courier__user"]
    search_fields = ["id", "external_ref", "shop__name"]
    date_hierarchy = "created_at"
    inlines = [ProofOfDeliveryInline, JobEventInline]
    raw_id_fields = ["shop", "courier", "quote", "zone"]
    actions = ["unlock_pins"]

    @admin.action(description="Unlock the recipient PIN of the selected jobs")
    def unlock_pins(self, request: HttpRequest, queryset: Any) -> None:
        """Give couriers fresh PIN tries after a lockout (the job stays flagged for review)."""
        unlocked = 0
        for job_pk in queryset.values_list("pk", flat=True):
            try:
                job_pin_unlock(job_pk=job_pk, actor=request.user, note="Unlocked in the admin.")
            except PinNotLocked:
                continue
            unlocked += 1
        skipped = len(queryset) - unlocked
        self.message_user(
            request, f"Unlocked {unlocked} PIN(s); {skipped} selected job(s) had no locked PIN."
        )
