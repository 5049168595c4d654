"""Money commands: the outbox rows a Stripe call is made from, written with the state change."""

from __future__ import annotations

from django.db import models


class CommandKind(models.TextChoices):
    CAPTURE = "capture", "Capture the job's authorisation (all or part)"
    CANCEL_AUTHORISATION = "cancel_authorisation", "Cancel the job's authorisation"
    TRANSFER = "transfer", "Transfer to a courier"
    REFUND = "refund", "Refund (part of) a charge"
    TRANSFER_REVERSAL = "transfer_reversal", "Reverse (part of) a transfer"
    DISPUTE_EVIDENCE = "dispute_evidence", "Submit a chargeback's evidence"


class CommandState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed for good"


class MoneyCommand(models.Model):
    """One Stripe write to make. ``idempotency_key`` (``job:<id>:capture``,
    ``transfer:<id>``, ...) is both our uniqueness and the key sent to Stripe, so however
    often a command is re-driven, Stripe moves the money once."""

    kind = models.CharField(max_length=32, choices=CommandKind.choices)
    idempotency_key = models.CharField(max_length=255, unique=True)
    job = models.ForeignKey("jobs.Job", on_delete=models.PROTECT, related_name="+")
    transfer = models.ForeignKey(
        "payments.Transfer", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    amount_minor = models.PositiveBigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    # Facts the ledger entry needs, fixed when the command is written (e.g. the split).
    params = models.JSONField(default=dict, blank=True)
    state = models.CharField(
        max_length=16, choices=CommandState.choices, default=CommandState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(state__in=["pending", "running"]),
                name="money_command_open",
            )
        ]

    def __str__(self) -> str:
        return self.idempotency_key
