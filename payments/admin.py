"""Staff views of the money: payments, transfers, the ledger (read-only), balances and the
latest reconciliation report. Nothing here moves money; refunds and adjustments are services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Sum
from django.http import HttpRequest
from django.utils.html import format_html_join

from payments.models import (
    CourierPayoutAccount,
    JobPayment,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    MoneyCommand,
    ReconciliationReport,
    ShopBilling,
    StripeEvent,
    Tip,
    Transfer,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Everything shown, nothing editable, added or deleted."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(JobPayment)
class JobPaymentAdmin(ReadOnlyAdmin):
    list_display = (
        "job_id",
        "shop",
        "status",
        "authorised_minor",
        "captured_minor",
        "refunded_minor",
        "currency",
        "intent_id",
        "created_at",
    )
    list_filter = ("status", "currency")
    search_fields = ("job__id", "intent_id", "charge_id")


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = (
        "job_id",
        "courier",
        "kind",
        "amount_minor",
        "currency",
        "state",
        "stripe_transfer_id",
        "amount_reversed_minor",
        "created_at",
    )
    list_filter = ("state", "kind")
    search_fields = ("job__id", "stripe_transfer_id")


class JournalLineInline(admin.TabularInline):
    model = JournalLine
    fields = ("account", "amount_minor", "currency")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ("idempotency_key", "kind", "job_id", "reference", "created_at")
    list_filter = ("kind",)
    search_fields = ("idempotency_key", "reference", "job__id")
    inlines = [JournalLineInline]


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    """Per-account balances, per currency (debit +, credit -)."""

    list_display = ("code", "kind", "balances")
    list_filter = ("kind",)
    search_fields = ("code",)

    @admin.display(description="Balance (minor units)")
    def balances(self, account: LedgerAccount) -> str:
        rows = (
            account.lines.values("currency")
            .annotate(total=Sum("amount_minor"))
            .order_by("currency")
        )
        return (
            format_html_join(", ", "{} {}", ((row["total"], row["currency"]) for row in rows))
            or "0"
        )


@admin.register(MoneyCommand)
class MoneyCommandAdmin(ReadOnlyAdmin):
    list_display = ("idempotency_key", "kind", "state", "attempts", "next_attempt_at", "last_error")
    list_filter = ("state", "kind")
    search_fields = ("idempotency_key",)


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "type", "connect", "received_at", "processed_at")
    list_filter = ("type", "connect")
    search_fields = ("event_id",)


@admin.register(ReconciliationReport)
class ReconciliationReportAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "since", "difference_count", "checked")


admin.site.register(ShopBilling, ReadOnlyAdmin)
admin.site.register(CourierPayoutAccount, ReadOnlyAdmin)
admin.site.register(Tip, ReadOnlyAdmin)

# Disputes have their own admin (a page per dispute with its evidence and actions).
import payments.disputes.admin  # noqa: E402, F401
