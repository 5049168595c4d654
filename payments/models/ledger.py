"""The append-only double-entry ledger: accounts, journal entries and their signed lines.

The database enforces the two rules that matter (migration 0002): every entry's lines sum
to zero per currency (a deferred constraint trigger, checked at commit), and neither
lines nor entries are ever updated or deleted. Amounts are signed minor units: debit +,
credit -. Only ``payments.ledger.ledger_post`` writes here.
"""

from __future__ import annotations

from django.db import models


class AccountKind(models.TextChoices):
    STRIPE_CLEARING = "stripe_clearing", "Stripe clearing (our Stripe balance)"
    COURIER_PAYABLE = "courier_payable", "Owed to a courier"
    PLATFORM_REVENUE = "platform_revenue", "Platform revenue"
    STRIPE_FEES = "stripe_fees", "Stripe fees"
    REFUNDS = "refunds", "Refunds borne by the platform"
    CHARGEBACKS = "chargebacks", "Chargebacks and dispute fees"
    COMPENSATIONS = "compensations", "Dispute compensation paid to couriers"


# Accounts that exist once (the code is the kind); courier_payable is one per courier.
SINGLETON_KINDS = frozenset(
    {
        AccountKind.STRIPE_CLEARING,
        AccountKind.PLATFORM_REVENUE,
        AccountKind.STRIPE_FEES,
        AccountKind.REFUNDS,
        AccountKind.CHARGEBACKS,
        AccountKind.COMPENSATIONS,
    }
)


class LedgerAccount(models.Model):
    """One ledger account; ``code`` is ``<kind>`` or ``courier_payable:<courier id>``."""

    code = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=32, choices=AccountKind.choices)
    courier = models.ForeignKey(
        "couriers.Courier", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="courier_payable", courier__isnull=False)
                | (~models.Q(kind="courier_payable") & models.Q(courier__isnull=True)),
                name="ledger_account_courier_iff_payable",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class EntryKind(models.TextChoices):
    CAPTURE = "capture", "Job captured"
    STRIPE_FEE = "stripe_fee", "Stripe fee"
    TRANSFER = "transfer", "Transfer to a courier"
    CANCELLATION_FEE = "cancellation_fee", "Cancellation fee captured"
    RETURN_FEE = "return_fee", "Failed-and-returned fee captured"
    TIP = "tip", "Tip charged"
    REFUND = "refund", "Refund"
    REFUND_FAILURE = "refund_failure", "Refund failed (its refund entry undone)"
    REVERSAL = "reversal", "Transfer reversal"
    ADJUSTMENT = "adjustment", "Adjustment"
    COMPENSATION = "compensation", "Dispute compensation"
    CHARGEBACK = "chargeback", "Chargeback withdrawn or reinstated"


class JournalEntry(models.Model):
    """One money event. ``idempotency_key`` (e.g. ``job:<id>:capture``) makes posting it twice
    impossible; ``reference`` is the Stripe object it records (charge, transfer, refund)."""

    idempotency_key = models.CharField(max_length=255, unique=True)
    kind = models.CharField(max_length=32, choices=EntryKind.choices)
    job = models.ForeignKey(
        "jobs.Job", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reference = models.CharField(max_length=255, blank=True, default="")
    description = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name_plural = "journal entries"
        indexes = [models.Index(fields=["job", "kind"], name="journal_entry_job_kind")]

    def __str__(self) -> str:
        return self.idempotency_key


class JournalLine(models.Model):
    """A signed amount on one account (debit +, credit -); never zero, never changed."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="lines")
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)

    class Meta:
        indexes = [models.Index(fields=["account", "currency"], name="journal_line_account")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(amount_minor=0), name="journal_line_amount_not_zero"
            ),
            models.CheckConstraint(
                condition=models.Q(currency__regex=r"^[a-z]{3}$"),
                name="journal_line_currency_iso_lower",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount_minor:+d} {self.currency}"
