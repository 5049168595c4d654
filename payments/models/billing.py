"""What shops pay with and what each job's payment did: billing details, job payments, tips."""

from __future__ import annotations

from django.db import models


class ShopBilling(models.Model):
    """The shop's Stripe customer and its default card (brand and last four only)."""

    shop = models.OneToOneField("marketplace.Shop", on_delete=models.CASCADE, related_name="+")
    customer_id = models.CharField(max_length=255, unique=True)
    payment_method_id = models.CharField(max_length=255, blank=True, default="")
    card_brand = models.CharField(max_length=32, blank=True, default="")
    card_last4 = models.CharField(max_length=4, blank=True, default="")
    card_exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    card_exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "shop billing"

    def __str__(self) -> str:
        return f"billing for shop {self.shop_id}"

    @property
    def has_payment_method(self) -> bool:
        return bool(self.payment_method_id)


class PaymentStatus(models.TextChoices):
    # Scheduled beyond the card-hold window: authorised when released.
    AWAITING_AUTHORISATION = "awaiting_authorisation", "Awaiting authorisation"
    AUTHORISING = "authorising", "Authorising"
    AUTHORISED = "authorised", "Authorised"
    DECLINED = "declined", "Declined"
    AUTHENTICATION_REQUIRED = "authentication_required", "Authentication required"
    CAPTURING = "capturing", "Capture requested"
    CAPTURED = "captured", "Captured"
    CANCELLING = "cancelling", "Cancellation requested"
    CANCELED = "canceled", "Authorisation cancelled"


class JobPayment(models.Model):
    """The job's manual-capture PaymentIntent and what it moved (minor units).

    The row can exist before its job (the authorisation comes first when a job is posted),
    so the job link has no database foreign key; ``payments.sweeper`` cancels the
    authorisation of a row whose job never appeared.
    """

    job = models.OneToOneField(
        "jobs.Job",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        primary_key=True,
        related_name="+",
    )
    shop = models.ForeignKey("marketplace.Shop", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=32, choices=PaymentStatus.choices)
    currency = models.CharField(max_length=3)
    amount_minor = models.PositiveBigIntegerField(help_text="What is (to be) authorised.")
    customer_id = models.CharField(max_length=255, blank=True, default="")
    payment_method_id = models.CharField(max_length=255, blank=True, default="")
    intent_id = models.CharField(max_length=255, blank=True, default="", db_index=True)
    charge_id = models.CharField(max_length=255, blank=True, default="", db_index=True)
    authorised_minor = models.PositiveBigIntegerField(default=0)
    captured_minor = models.PositiveBigIntegerField(default=0)
    refunded_minor = models.PositiveBigIntegerField(default=0)
    capture_before = models.DateTimeField(null=True, blank=True)
    authorisation_round = models.PositiveSmallIntegerField(
        default=0,
        help_text="Bumped each time a hold is released to be authorised again (keys differ).",
    )
    decline_code = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(captured_minor__lte=models.F("amount_minor")),
                name="job_payment_capture_within_amount",
            ),
            models.CheckConstraint(
                condition=models.Q(refunded_minor__lte=models.F("captured_minor")),
                name="job_payment_refund_within_capture",
            ),
        ]

    def __str__(self) -> str:
        return f"payment for job {self.job_id}"


class TipStatus(models.TextChoices):
    CHARGING = "charging", "Charging"
    SUCCEEDED = "succeeded", "Charged"
    DECLINED = "declined", "Declined"
    AUTHENTICATION_REQUIRED = "authentication_required", "Authentication required"


class Tip(models.Model):
    """A tip given after delivery: its own automatic-capture PaymentIntent, all to the courier."""

    job = models.OneToOneField("jobs.Job", on_delete=models.PROTECT, related_name="+")
    amount_minor = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=32, choices=TipStatus.choices)
    intent_id = models.CharField(max_length=255, blank=True, default="")
    charge_id = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_minor__gt=0), name="tip_positive"),
        ]

    def __str__(self) -> str:
        return f"tip on job {self.job_id}"
