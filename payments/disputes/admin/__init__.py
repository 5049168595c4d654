"""Disputes in the Django admin: a filtered changelist, and one page per dispute showing every
piece of evidence with a form per action, each calling one service of payments.disputes.

The admin writes nothing itself. Each rendered form carries a fresh idempotency key, so a
double submit (or one form sent twice) is one action; two staff sending two forms at once
meet the services' row lock and unique constraints, and money moves once. What a user may
do is the services' rule (payments.disputes.permissions); the page only hides the rest.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from jobs.models import JobPhoto
from marketplace.api.errors import ApplicationError
from marketplace.csp import page_content_security_policy
from payments.disputes import permissions as perms
from payments.disputes import services
from payments.disputes.admin.actions import ACTIONS, ACTIONS_BY_KIND
from payments.disputes.admin.forms import ActionForm
from payments.disputes.evidence import dispute_evidence
from payments.disputes.selectors import dispute_refunded_parts, job_charges, refund_attempts
from payments.models import Dispute, DisputeAction, DisputePhoto
from payments.models.disputes import REFUND_KINDS

CLAIM_TOTAL = F("claim_value_minor") + F("claim_fee_minor") + F("claim_tip_minor")


def _permissions(request: HttpRequest) -> set[str]:
    """The user's dispute permissions, read once per request."""
    cached = getattr(request, "_dispute_permissions", None)
    if cached is None:
        cached = perms.dispute_permissions(request.user)
        request._dispute_permissions = cached
    return cached


# --- Changelist filters ----------------------------------------------------------------------


class ClaimAmountFilter(admin.SimpleListFilter):
    """The claim's total (value + fee + tip), in minor units."""

    title = "claim amount"
    parameter_name = "claim"
    BANDS = {
        "lt1000": (0, 999),
        "1000-4999": (1000, 4999),
        "5000-19999": (5000, 19999),
        "gte20000": (20000, None),
    }

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("lt1000", "under 1 000"),
            ("1000-4999", "1 000 to 4 999"),
            ("5000-19999", "5 000 to 19 999"),
            ("gte20000", "20 000 or more"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Dispute]) -> QuerySet[Dispute]:
        band = self.BANDS.get(self.value() or "")
        if band is None:
            return queryset
        low, high = band
        queryset = queryset.filter(claim_total__gte=low)
        return queryset if high is None else queryset.filter(claim_total__lte=high)


# --- The admin -------------------------------------------------------------------------------


class DisputeAdmin(admin.ModelAdmin):
    """Only dispute staff (support, finance, superusers) see disputes; nobody edits them here."""

    list_display = [
        "id",
        "job_id",
        "shop",
        "courier",
        "opener",
        "reason",
        "state",
        "claim_total",
        "currency",
        "is_sla_breached",
        "review_due_at",
        "created_at",
    ]
    list_filter = [
        "state",
        "reason",
        "opener",
        ("job__zone", admin.RelatedOnlyFieldListFilter),
        "is_sla_breached",
        ClaimAmountFilter,
    ]
    search_fields = [
        "id",
        "job__id",
        "job__external_ref",
        "job__shop__name",
        "job__courier__user__username",
        "job__courier__user__first_name",
        "job__courier__user__last_name",
        "stripe_dispute_id",
    ]
    list_select_related = ["job__shop", "job__courier__user"]
    ordering = ["-created_at"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    # Who sees what: the services' permissions, never Django's model permissions.
    def has_module_permission(self, request: HttpRequest) -> bool:
        return perms.VIEW in _permissions(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return perms.VIEW in _permissions(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Dispute]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                claim_total=F("claim_value_minor") + F("claim_fee_minor") + F("claim_tip_minor")
            )
        )

    @admin.display(description="Shop", ordering="job__shop__name")
    def shop(self, dispute: Dispute) -> str:
        return dispute.job.shop.name

    @admin.display(description="Courier")
    def courier(self, dispute: Dispute) -> str:
        courier = dispute.job.courier
        return courier.user.get_full_name() or courier.user.username if courier else "-"

    @admin.display(description="Claim (minor units)", ordering="claim_total")
    def claim_total(self, dispute: Dispute) -> int:
        return dispute.claim_total

    def get_urls(self) -> list[Any]:
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path(
                "<uuid:object_id>/act/<str:kind>/",
                view(self.action_view),
                name=f"{prefix}_act",
            ),
            path(
                "<uuid:object_id>/photo/<str:source>/<uuid:photo_id>/",
                view(self.photo_view),
                name=f"{prefix}_photo",
            ),
            *super().get_urls(),
        ]

    # --- the page ----------------------------------------------------------------------

    def _dispute(self, request: HttpRequest, object_id: Any) -> Dispute:
        if not self.has_view_permission(request):
            raise PermissionDenied
        dispute = Dispute.objects.select_related("job", "opened_by").filter(pk=object_id).first()
        if dispute is None:
            raise Http404("No such dispute.")
        return dispute

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        return self._render(request, self._dispute(request, object_id))

    def _render(
        self, request: HttpRequest, dispute: Dispute, bound: ActionForm | None = None
    ) -> TemplateResponse:
        allowed = _permissions(request)
        limit = perms.refund_limit_minor(request.user)
        room = services.refundable_parts(dispute=dispute)
        hidden = set()
        if limit is not None and room.fee_minor + room.tip_minor > limit:
            hidden.add(perms.FULL_REFUND)  # more is left than this user may refund at once
        done = set(dispute.actions.values_list("kind", flat=True))
        if not refund_attempts(dispute=dispute)[1]:
            done -= set(REFUND_KINDS)  # Stripe refused the last refund: staff may try again
        forms_shown = []
        for spec in ACTIONS:
            if spec.kind in hidden or spec.kind not in allowed:
                continue
            if not spec.applies(dispute, done):
                continue
            form = (
                bound
                if bound is not None and bound.kind == spec.kind
                else spec.form(dispute=dispute, kind=spec.kind)
            )
            url = reverse("admin:payments_dispute_act", args=[dispute.pk, spec.kind])
            forms_shown.append({"spec": spec, "form": form, "url": url})
        evidence = dispute_evidence(dispute=dispute)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Dispute {dispute.pk}",
            "subtitle": None,
            "dispute": dispute,
            "evidence": evidence,
            "job": evidence.job.job,
            "charges": job_charges(job=evidence.job.job),
            "refunded": dispute_refunded_parts(dispute=dispute),
            "refundable": room,
            "action_forms": forms_shown,
            "refund_limit_minor": limit,
            "map": {
                "tile_url": settings.MAP_TILE_URL,
                "attribution": settings.MAP_TILE_ATTRIBUTION,
            },
            "has_view_permission": True,
            "original": dispute,
        }
        response = TemplateResponse(request, "admin/payments/dispute/dispute.html", context)
        # Our own scripts, styles and images only (map tiles when MAP_TILE_URL is set).
        response["Content-Security-Policy"] = page_content_security_policy()
        return response

    # --- the actions ---------------------------------------------------------------------

    def action_view(self, request: HttpRequest, object_id: Any, kind: str) -> HttpResponse:
        """Validate the form and call the action's one service. The service decides whether
        this user may; its refusals (permission, state, amount) become error messages."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        dispute = self._dispute(request, object_id)
        spec = ACTIONS_BY_KIND.get(kind)
        if spec is None:
            raise Http404("No such action.")
        form = spec.form(request.POST, dispute=dispute, kind=kind)
        if not form.is_valid():
            for field, errors in form.errors.items():
                label = form.fields[field].label if field in form.fields else None
                name = f"{label}: " if label else ""
                messages.error(request, f"{spec.label}: {name}{' '.join(errors)}")
            return self._render(request, dispute, bound=form)
        key = form.cleaned_data["idempotency_key"]
        replay = DisputeAction.objects.filter(idempotency_key=key).exists()
        try:
            action = spec.call(dispute, request.user, form.cleaned_data)
        except ApplicationError as error:
            messages.error(request, f"{spec.label}: {error.message} ({error.code})")
            return self._render(request, dispute, bound=form)
        if replay:
            messages.warning(request, f"{spec.label}: already done (this form was sent before).")
        else:
            messages.success(request, f"{spec.label}: done ({action.get_kind_display()}).")
        return redirect(reverse("admin:payments_dispute_change", args=[dispute.pk]))

    def photo_view(
        self, request: HttpRequest, object_id: Any, source: str, photo_id: Any
    ) -> HttpResponse:
        """One image of this dispute or of its job's proof, to staff who may see the dispute."""
        dispute = self._dispute(request, object_id)
        if source == "job":
            photo = JobPhoto.objects.filter(pk=photo_id, job_id=dispute.job_id).first()
        elif source == "dispute":
            photo = DisputePhoto.objects.filter(pk=photo_id, dispute=dispute).first()
        else:
            photo = None
        if photo is None:
            raise Http404("No such photo.")
        response = HttpResponse(bytes(photo.data), content_type=photo.content_type)
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, max-age=3600"
        return response


admin.site.register(Dispute, DisputeAdmin)
