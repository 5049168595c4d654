"""Disputes on a job: the claim, its messages and photos, and the immutable audit of actions.

States (``DisputeState``):

- ``open``: just opened, nobody asked yet. A chargeback stays here until finance submits
  evidence to Stripe.
- ``awaiting_courier``: the courier may reply until ``courier_reply_due_at``
  (``DISPUTE_COURIER_REPLY_HOURS``); opening a shop's or recipient's dispute on a job with
  a courier goes straight here, and so does asking the courier for information.
- ``under_review``: staff decide (after the courier's reply, its deadline, or a request
  for information to the shop or recipient). A chargeback is here while Stripe decides.
- ``resolved``: a refund, a courier adjustment or compensation was made (``resolution``
  says which came first), or Stripe closed a chargeback (``stripe_outcome``). A refund
  Stripe refuses (``refund_failed``) takes a dispute it resolved back to ``under_review``.
- ``rejected``: staff rejected the claim, with a reason.

Only ``payments.disputes.services`` writes these rows.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

OPEN_STATES = ("open", "awaiting_courier", "under_review")


class DisputeOpener(models.TextChoices):
    SHOP = "shop", "Shop"
    RECIPIENT = "recipient", "Recipient"
    COURIER = "courier", "Courier"
    STRIPE = "stripe", "Stripe (chargeback)"


class DisputeReason(models.TextChoices):
    NEVER_DELIVERED = "never_delivered", "Never delivered"
    DAMAGED = "damaged", "Damaged"
    MISSING_ITEMS = "missing_items", "Items missing"
    WRONG_ADDRESS = "wrong_address", "Wrong address"
    LATE = "late", "Late"
    COURIER_CONDUCT = "courier_conduct", "Courier conduct"
    LOCKER_PASSCODE_FAILED = "locker_passcode_failed", "Locker passcode failed"
    OVERCHARGED = "overcharged", "Overcharged"
    OTHER = "other", "Other"


# What a courier may dispute on a job they carried: a claw-back or pay adjustment they
# contest (``overcharged``: the platform took back or kept too much), a wrong address, a
# locker passcode that did not open, or something else. Damage, loss and lateness are the
# shop's and recipient's claims; conduct is about the courier.
COURIER_REASONS = (
    DisputeReason.OVERCHARGED,
    DisputeReason.WRONG_ADDRESS,
    DisputeReason.LOCKER_PASSCODE_FAILED,
    DisputeReason.OTHER,
)
COURIER_REASON_CHOICES = [(reason.value, reason.label) for reason in COURIER_REASONS]


class DisputeState(models.TextChoices):
    OPEN = "open", "Open"
    AWAITING_COURIER = "awaiting_courier", "Awaiting the courier's reply"
    UNDER_REVIEW = "under_review", "Under review"
    RESOLVED = "resolved", "Resolved"
    REJECTED = "rejected", "Rejected"


class DisputeResolution(models.TextChoices):
    FULL_REFUND = "full_refund", "Full refund"
    PARTIAL_REFUND = "partial_refund", "Partial refund"
    COURIER_ADJUSTMENT = "courier_adjustment", "Courier adjustment"
    COURIER_COMPENSATION = "courier_compensation", "Courier compensation"
    REJECTED = "rejected", "Rejected"
    CHARGEBACK_WON = "chargeback_won", "Chargeback won"
    CHARGEBACK_LOST = "chargeback_lost", "Chargeback lost"


class DisputeParty(models.TextChoices):
    SHOP = "shop", "Shop"
    RECIPIENT = "recipient", "Recipient"
    COURIER = "courier", "Courier"
    STAFF = "staff", "Staff"
    STRIPE = "stripe", "Stripe"


class DisputeActionKind(models.TextChoices):
    OPEN = "open", "Opened"
    COURIER_REPLY = "courier_reply", "Courier replied"
    FULL_REFUND = "full_refund", "Full refund"
    PARTIAL_REFUND = "partial_refund", "Partial refund"
    COURIER_ADJUSTMENT = "courier_adjustment", "Courier adjustment"
    COURIER_COMPENSATION = "courier_compensation", "Courier compensation"
    REJECT = "reject", "Rejected"
    REQUEST_INFO = "request_info", "Asked for more information"
    SUBMIT_EVIDENCE = "submit_evidence", "Evidence submitted to Stripe"
    REVIEW_DUE = "review_due", "Moved to review (courier's reply time ran out)"
    SLA_BREACHED = "sla_breached", "Review time exceeded"
    CHARGEBACK_CLOSED = "chargeback_closed", "Stripe closed the chargeback"
    REFUND_FAILED = "refund_failed", "Stripe refused the refund"


REFUND_KINDS = (DisputeActionKind.FULL_REFUND, DisputeActionKind.PARTIAL_REFUND)


class Dispute(models.Model):
    """A claim about one job. Claim parts are minor units in the job's currency."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey("jobs.Job", on_delete=models.PROTECT, related_name="+")
    opener = models.CharField(max_length=16, choices=DisputeOpener.choices)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty for the recipient (no account) and for Stripe.",
    )
    reason = models.CharField(max_length=32, choices=DisputeReason.choices)
    description = models.TextField(blank=True, default="")
    state = models.CharField(
        max_length=20, choices=DisputeState.choices, default=DisputeState.OPEN, db_index=True
    )
    claim_value_minor = models.PositiveBigIntegerField(default=0)
    claim_fee_minor = models.PositiveBigIntegerField(default=0)
    claim_tip_minor = models.PositiveBigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    courier_reply_due_at = models.DateTimeField(null=True, blank=True)
    review_due_at = models.DateTimeField(null=True, blank=True)
    is_sla_breached = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(
        max_length=32, choices=DisputeResolution.choices, blank=True, default=""
    )
    stripe_dispute_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    stripe_reason = models.CharField(max_length=64, blank=True, default="")
    # Stripe's dispute status as last seen (needs_response, under_review, won, lost, ...).
    stripe_status = models.CharField(max_length=32, blank=True, default="")
    stripe_outcome = models.CharField(max_length=16, blank=True, default="")  # won, lost
    stripe_amount_minor = models.PositiveBigIntegerField(null=True, blank=True)
    evidence_due_by = models.DateTimeField(null=True, blank=True)
    recipient_problem = models.ForeignKey(
        "jobs.RecipientProblem",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["job", "opener"],
                condition=models.Q(state__in=OPEN_STATES),
                name="dispute_one_open_per_job_opener",
            ),
            models.CheckConstraint(
                condition=~models.Q(opener="stripe") | models.Q(stripe_dispute_id__isnull=False),
                name="dispute_chargeback_has_stripe_id",
            ),
        ]
        indexes = [
            models.Index(fields=["job", "-created_at"], name="dispute_job_created"),
            models.Index(
                fields=["review_due_at"],
                condition=models.Q(state__in=OPEN_STATES),
                name="dispute_open_review_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reason} dispute on {self.job_id} ({self.state})"

    @property
    def is_chargeback(self) -> bool:
        return self.opener == DisputeOpener.STRIPE

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def claim_total_minor(self) -> int:
        return self.claim_value_minor + self.claim_fee_minor + self.claim_tip_minor


class DisputeMessage(models.Model):
    """Something a party said in the dispute (the opening description is not repeated here)."""

    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="messages")
    party = models.CharField(max_length=16, choices=DisputeParty.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Whom a staff request for information is addressed to (empty otherwise).
    addressed_to = models.CharField(
        max_length=16, choices=DisputeParty.choices, blank=True, default=""
    )
    text = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.party} on {self.dispute_id}"


class DisputePhoto(models.Model):
    """An image a party sent with the dispute (checked like proof photos: ``jobs.photos``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="photos")
    message = models.ForeignKey(
        DisputeMessage, on_delete=models.PROTECT, null=True, blank=True, related_name="photos"
    )
    party = models.CharField(max_length=16, choices=DisputeParty.choices)
    content_type = models.CharField(max_length=32)
    data = models.BinaryField()
    size_bytes = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.party} photo on {self.dispute_id}"


class DisputeAction(models.Model):
    """One thing done on a dispute, as it was done: never updated, never deleted.

    ``idempotency_key`` makes the same request (a double submit, two staff sending one
    rendered form) one action. The partial unique constraints allow one refund per
    attempt, one courier adjustment and one compensation per dispute, so two staff
    pressing the same button from two forms move money once as well. A refund Stripe
    refuses gets a ``refund_failed`` action with the same attempt (and the parts that did
    not go back), and the next refund is the next attempt.
    """

    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="actions")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty for the periodic task and for Stripe.",
    )
    kind = models.CharField(max_length=32, choices=DisputeActionKind.choices)
    from_state = models.CharField(max_length=20, choices=DisputeState.choices)
    to_state = models.CharField(max_length=20, choices=DisputeState.choices)
    party = models.CharField(max_length=16, choices=DisputeParty.choices, blank=True, default="")
    refund_value_minor = models.PositiveBigIntegerField(default=0)
    refund_fee_minor = models.PositiveBigIntegerField(default=0)
    refund_tip_minor = models.PositiveBigIntegerField(default=0)
    amount_minor = models.PositiveBigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    note = models.TextField(blank=True, default="")
    idempotency_key = models.CharField(max_length=255, unique=True)
    # Which refund of the dispute a refund (or its ``refund_failed``) is: 1, then one more
    # after each refund Stripe refused.
    attempt = models.PositiveSmallIntegerField(default=1)
    journal_entry = models.ForeignKey(
        "payments.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    money_command = models.ForeignKey(
        "payments.MoneyCommand", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dispute", "attempt"],
                condition=models.Q(kind__in=["full_refund", "partial_refund"]),
                name="dispute_action_one_refund_per_attempt",
            ),
            models.UniqueConstraint(
                fields=["dispute"],
                condition=models.Q(kind="courier_adjustment"),
                name="dispute_action_one_adjustment",
            ),
            models.UniqueConstraint(
                fields=["dispute"],
                condition=models.Q(kind="courier_compensation"),
                name="dispute_action_one_compensation",
            ),
            models.UniqueConstraint(
                fields=["dispute"],
                condition=models.Q(kind="submit_evidence"),
                name="dispute_action_one_evidence",
            ),
        ]
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} on {self.dispute_id}"

    @property
    def refund_total_minor(self) -> int:
        return self.refund_value_minor + self.refund_fee_minor + self.refund_tip_minor
