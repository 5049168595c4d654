"""Couriers' Stripe Connect accounts and the transfers of their earnings."""

from __future__ import annotations

from django.db import models


class CourierPayoutAccount(models.Model):
    """The courier's Express connected account, as ``account.updated`` last described it."""

    courier = models.OneToOneField("couriers.Courier", on_delete=models.PROTECT, related_name="+")
    account_id = models.CharField(max_length=255, unique=True)
    payouts_enabled = models.BooleanField(default=False)
    charges_enabled = models.BooleanField(default=False)
    details_submitted = models.BooleanField(default=False)
    requirements_due = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.account_id


class TransferKind(models.TextChoices):
    PAYOUT = "payout", "Delivery payout"
    TIP = "tip", "Tip"
    CANCELLATION_SHARE = "cancellation_share", "Share of a cancellation fee"
    RETURN_SHARE = "return_share", "Share of a return fee"
    # Paid by the platform after a dispute; several per job are possible (one per dispute).
    COMPENSATION = "compensation", "Dispute compensation"


class TransferState(models.TextChoices):
    # Owed, but the courier cannot receive payouts yet (no account, or not enabled).
    HELD = "held", "Held until payouts are enabled"
    PENDING = "pending", "Transfer requested"
    PAID = "paid", "Transferred"
    FAILED = "failed", "Failed"
    # Adjusted to nothing by a dispute before it was sent: it never goes out.
    CANCELLED = "cancelled", "Cancelled"


class Transfer(models.Model):
    """One amount owed to a courier for a job, and the Stripe transfer that paid it."""

    job = models.ForeignKey("jobs.Job", on_delete=models.PROTECT, related_name="+")
    courier = models.ForeignKey("couriers.Courier", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=32, choices=TransferKind.choices)
    amount_minor = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    source_charge_id = models.CharField(max_length=255)
    state = models.CharField(max_length=16, choices=TransferState.choices)
    stripe_transfer_id = models.CharField(max_length=255, blank=True, default="", db_index=True)
    amount_reversed_minor = models.PositiveBigIntegerField(default=0)
    # Held back while a chargeback on the job is open: never sent until it is unfrozen.
    is_frozen = models.BooleanField(default=False)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["job", "kind"],
                condition=~models.Q(kind="compensation"),
                name="transfer_one_per_job_kind",
            ),
            models.CheckConstraint(
                condition=models.Q(amount_minor__gt=0), name="transfer_amount_positive"
            ),
        ]
        indexes = [models.Index(fields=["courier", "state"], name="transfer_courier_state")]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_minor} {self.currency} for job {self.job_id}"

    @property
    def idempotency_key(self) -> str:
        return f"transfer:{self.pk}"
