"""Disputes in the Django admin: a filtered changelist, and one page per dispute showing every
piece of evidence with a form per action, each calling one service of payments.disputes.

The admin writes nothing itself. Each rendered form carries a fresh idempotency key, so a
double submit (or one form sent twice) is one action; two staff sending two forms at once
meet the services' row lock and unique constraints, and money moves once. What a user may
do is the services' rule (payments.disputes.permissions); the page only hides the rest.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
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
from marketplace.models import User
from payments.disputes import permissions as perms
from payments.disputes import services
from payments.disputes.evidence import dispute_evidence
from payments.disputes.selectors import dispute_refunded_parts, job_charges
from payments.models import Dispute, DisputeAction, DisputeParty, DisputePhoto

NOTE_MAX = 2000
CLAIM_TOTAL = F("claim_value_minor") + F("claim_fee_minor") + F("claim_tip_minor")


def _permissions(request: HttpRequest) -> set[str]:
    """The user's dispute permissions, read once per request."""
    cached = getattr(request, "_dispute_permissions", None)
    if cached is None:
        cached = perms.dispute_permissions(request.user)
        request._dispute_permissions = cached
    return cached


# --- Action forms ----------------------------------------------------------------------------


class ActionForm(forms.Form):
    """The base of every action form: the one-time key, bound to this dispute and action."""

    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=255)

    def __init__(self, *args: Any, dispute: Dispute, kind: str, **kwargs: Any) -> None:
        self.dispute = dispute
        self.kind = kind
        kwargs.setdefault("prefix", kind)
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["idempotency_key"] = new_key(dispute, kind)

    def clean_idempotency_key(self) -> str:
        key = self.cleaned_data["idempotency_key"]
        pattern = rf"admin:{re.escape(str(self.dispute.pk))}:{re.escape(self.kind)}:[0-9a-f]{{32}}"
        if not re.fullmatch(pattern, key):
            raise forms.ValidationError("This form is not for this action; reload the page.")
        return key


def new_key(dispute: Dispute, kind: str) -> str:
    return f"admin:{dispute.pk}:{kind}:{secrets.token_hex(16)}"


def _note(required: bool = False, label: str = "Note") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )


def _minor(label: str, minimum: int = 0, required: bool = True) -> forms.IntegerField:
    return forms.IntegerField(
        label=label, min_value=minimum, max_value=2**62, initial=0, required=required
    )


class FullRefundForm(ActionForm):
    note = _note()


class PartialRefundForm(ActionForm):
    """The parts left empty are 0; at least one must be more."""

    PARTS = ("value_minor", "fee_minor", "tip_minor")
    value_minor = _minor("Parcel value", required=False)
    fee_minor = _minor("Delivery fee", required=False)
    tip_minor = _minor("Tip", required=False)
    note = _note()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in self.PARTS:
            if name not in self.errors and data.get(name) is None:
                data[name] = 0
        if not self.errors and sum(data[name] for name in self.PARTS) == 0:
            raise forms.ValidationError("Refund more than 0 in at least one part.")
        return data


class AmountForm(ActionForm):
    amount_minor = _minor("Amount", minimum=1)
    note = _note()


class RejectForm(ActionForm):
    reason = _note(required=True, label="Reason")


class RequestInfoForm(ActionForm):
    party = forms.ChoiceField(label="Ask")
    message = _note(required=True, label="Message")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        parties = [DisputeParty.SHOP, DisputeParty.RECIPIENT]
        if self.dispute.job.courier_id is not None:
            parties.append(DisputeParty.COURIER)
        self.fields["party"].choices = [(party.value, party.label) for party in parties]


class ConfirmForm(ActionForm):
    """Nothing to fill in: the key alone."""


@dataclass(frozen=True)
class ActionSpec:
    """One button on the page: who may press it, its form, and the one service it calls."""

    kind: str
    label: str
    form: type[ActionForm]
    call: Callable[[Dispute, User, dict[str, Any]], DisputeAction]
    applies: Callable[[Dispute, set[str]], bool]  # (the dispute, the kinds done on it)
    moves_money: bool


REFUNDS = {perms.FULL_REFUND, perms.PARTIAL_REFUND}


def _open(dispute: Dispute, done: set[str]) -> bool:
    return dispute.is_open


def _open_claim(dispute: Dispute, done: set[str]) -> bool:
    return dispute.is_open and not dispute.is_chargeback


def _refund(dispute: Dispute, done: set[str]) -> bool:
    """A claim takes one refund, also after another money action resolved it."""
    return (
        (dispute.is_open or dispute.state == "resolved")
        and not dispute.is_chargeback
        and not done & REFUNDS
    )


def _courier_money(kind: str) -> Callable[[Dispute, set[str]], bool]:
    """One adjustment and one compensation per dispute, also once it is resolved."""

    def applies(dispute: Dispute, done: set[str]) -> bool:
        return (
            (dispute.is_open or dispute.state == "resolved")
            and dispute.job.courier_id is not None
            and kind not in done
        )

    return applies


def _evidence(dispute: Dispute, done: set[str]) -> bool:
    return dispute.is_chargeback and dispute.is_open and perms.SUBMIT_EVIDENCE not in done


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(
        perms.FULL_REFUND,
        "Refund everything",
        FullRefundForm,
        lambda d, u, c: services.dispute_full_refund(
            dispute=d, actor=u, note=c["note"], idempotency_key=c["idempotency_key"]
        ),
        _refund,
        True,
    ),
    ActionSpec(
        perms.PARTIAL_REFUND,
        "Refund part",
        PartialRefundForm,
        lambda d, u, c: services.dispute_refund(
            dispute=d,
            actor=u,
            value_minor=c["value_minor"],
            fee_minor=c["fee_minor"],
            tip_minor=c["tip_minor"],
            note=c["note"],
            idempotency_key=c["idempotency_key"],
        ),
        _refund,
        True,
    ),
    ActionSpec(
        perms.COURIER_ADJUSTMENT,
        "Take back from the courier",
        AmountForm,
        lambda d, u, c: services.dispute_courier_adjust(
            dispute=d,
            actor=u,
            amount_minor=c["amount_minor"],
            note=c["note"],
            idempotency_key=c["idempotency_key"],
        ),
        _courier_money(perms.COURIER_ADJUSTMENT),
        True,
    ),
    ActionSpec(
        perms.COURIER_COMPENSATION,
        "Compensate the courier",
        AmountForm,
        lambda d, u, c: services.dispute_courier_compensate(
            dispute=d,
            actor=u,
            amount_minor=c["amount_minor"],
            note=c["note"],
            idempotency_key=c["idempotency_key"],
        ),
        _courier_money(perms.COURIER_COMPENSATION),
        True,
    ),
    ActionSpec(
        perms.REJECT,
        "Reject the claim",
        RejectForm,
        lambda d, u, c: services.dispute_reject(
            dispute=d, actor=u, reason=c["reason"], idempotency_key=c["idempotency_key"]
        ),
        _open_claim,
        False,
    ),
    ActionSpec(
        perms.REQUEST_INFO,
        "Ask for more information",
        RequestInfoForm,
        lambda d, u, c: services.dispute_request_info(
            dispute=d,
            actor=u,
            party=c["party"],
            message=c["message"],
            idempotency_key=c["idempotency_key"],
        ),
        _open,
        False,
    ),
    ActionSpec(
        perms.SUBMIT_EVIDENCE,
        "Submit the evidence to Stripe",
        ConfirmForm,
        lambda d, u, c: services.dispute_submit_evidence(
            dispute=d, actor=u, idempotency_key=c["idempotency_key"]
        ),
        _evidence,
        True,
    ),
)
ACTIONS_BY_KIND = {spec.kind: spec for spec in ACTIONS}


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
        return TemplateResponse(request, "admin/payments/dispute/dispute.html", context)

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
