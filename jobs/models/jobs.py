"""Zones, quotes, jobs and their event log. ``Job.status`` changes only in jobs.lifecycle."""

from __future__ import annotations

import secrets
import uuid
from decimal import Decimal

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.indexes import GistIndex
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator

from couriers.models import Capacity, Courier, Vehicle
from jobs.pricing import smallest_vehicle_for


class JobStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    PENDING = "pending", "Pending"
    ASSIGNED = "assigned", "Assigned"
    AT_PICKUP = "at_pickup", "At pickup"
    PICKED_UP = "picked_up", "Picked up"
    AT_DROPOFF = "at_dropoff", "At dropoff"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    RETURNING = "returning", "Returning"
    RETURNED = "returned", "Returned"
    UNASSIGNED = "unassigned", "Unassigned"
    CANCELLED = "cancelled", "Cancelled"


# A courier holds at most one job in these states (a database constraint enforces it).
COURIER_ACTIVE_STATUSES = (
    JobStatus.ASSIGNED,
    JobStatus.AT_PICKUP,
    JobStatus.PICKED_UP,
    JobStatus.AT_DROPOFF,
    JobStatus.FAILED,
    JobStatus.RETURNING,
)
TERMINAL_STATUSES = (JobStatus.DELIVERED, JobStatus.RETURNED, JobStatus.CANCELLED)


class DeliveryOption(models.TextChoices):
    HAND_TO_RECIPIENT = "hand_to_recipient", "Hand to recipient"
    LEAVE_AT_DOOR = "leave_at_door", "Leave at door"
    LOCKER = "locker", "Locker"
    ALTERNATE_LOCATION = "alternate_location", "Alternate location"


class DispatchMode(models.TextChoices):
    SEQUENTIAL = "sequential", "One courier at a time"
    BROADCAST = "broadcast", "Top N at once, first accept wins"


def default_size_factors() -> dict[str, str]:
    return {"small": "1.00", "medium": "1.20", "large": "1.50", "xl": "2.00"}


def default_vehicle_factors() -> dict[str, str]:
    return {"bike": "1.00", "scooter": "1.00", "car": "1.20", "van": "1.50"}


# The most staff may type for one zone fee, in minor units (10 000.00 in a two-decimal
# currency): a slip of the keyboard stays a form error, not a price.
ZONE_FEE_MAX_MINOR = 1_000_000


class ServiceZone(models.Model):
    """An area we serve, with its prices. The first active zone containing a point wins."""

    name = models.CharField(max_length=100, unique=True)
    area = models.MultiPolygonField(srid=4326)
    is_active = models.BooleanField(default=True)
    currency = models.CharField(max_length=3, default="eur", help_text="ISO 4217, lower case.")
    base_fee_minor = models.PositiveBigIntegerField(
        default=300, validators=[MaxValueValidator(ZONE_FEE_MAX_MINOR)]
    )
    per_km_minor = models.PositiveBigIntegerField(
        default=120, validators=[MaxValueValidator(ZONE_FEE_MAX_MINOR)]
    )
    minimum_fee_minor = models.PositiveBigIntegerField(
        default=500, validators=[MaxValueValidator(ZONE_FEE_MAX_MINOR)]
    )
    # Multipliers as decimal strings, keyed by package size and by vehicle.
    size_factors = models.JSONField(default=default_size_factors)
    vehicle_factors = models.JSONField(default=default_vehicle_factors)
    surge_cap = models.DecimalField(
        max_digits=4, decimal_places=2, default=Decimal("2.00"), help_text="Highest multiplier."
    )
    platform_fee_percent = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("20.00")
    )
    cancellation_fee_minor = models.PositiveBigIntegerField(
        default=500,
        validators=[MaxValueValidator(ZONE_FEE_MAX_MINOR)],
        help_text="Charged when the shop cancels after the courier reached pickup.",
    )
    return_fee_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("100.00"),
        help_text="Share of the delivery price charged when a job fails and is returned.",
    )
    dispatch_mode = models.CharField(
        max_length=16,
        choices=DispatchMode.choices,
        blank=True,
        default="",
        help_text="Empty: use the DISPATCH_MODE setting.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(surge_cap__gte=1), name="zone_surge_cap_at_least_1"
            ),
            models.CheckConstraint(
                condition=models.Q(platform_fee_percent__gte=0, platform_fee_percent__lte=100),
                name="zone_platform_fee_0_to_100",
            ),
            models.CheckConstraint(
                condition=models.Q(return_fee_percent__gte=0, return_fee_percent__lte=100),
                name="zone_return_fee_0_to_100",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PricedTrip(models.Model):
    """What quotes and jobs share: both stops, the package, the window and the price."""

    pickup_address = models.CharField(max_length=255)
    pickup_point = models.PointField(geography=True, srid=4326, spatial_index=False)
    pickup_contact_name = models.CharField(max_length=100, blank=True, default="")
    pickup_contact_phone = models.CharField(max_length=32, blank=True, default="")
    pickup_instructions = models.CharField(max_length=500, blank=True, default="")

    dropoff_address = models.CharField(max_length=255)
    dropoff_point = models.PointField(geography=True, srid=4326, spatial_index=False)
    dropoff_contact_name = models.CharField(max_length=100, blank=True, default="")
    dropoff_contact_phone = models.CharField(max_length=32, blank=True, default="")
    dropoff_instructions = models.CharField(max_length=500, blank=True, default="")

    package_size = models.CharField(max_length=16, choices=Capacity.choices)
    package_weight_g = models.PositiveIntegerField()
    package_value_minor = models.PositiveBigIntegerField(default=0)
    package_description = models.CharField(max_length=255, blank=True, default="")
    pickup_after = models.DateTimeField(null=True, blank=True)
    deliver_before = models.DateTimeField(null=True, blank=True)

    zone = models.ForeignKey(ServiceZone, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    distance_m = models.PositiveIntegerField(help_text="Geodesic pickup → dropoff distance.")
    base_minor = models.PositiveBigIntegerField()
    distance_fee_minor = models.PositiveBigIntegerField()
    size_fee_minor = models.PositiveBigIntegerField()
    surge_fee_minor = models.PositiveBigIntegerField()
    total_minor = models.PositiveBigIntegerField(help_text="What the shop pays, before tip.")
    courier_payout_minor = models.PositiveBigIntegerField()
    platform_fee_minor = models.PositiveBigIntegerField()
    surge_multiplier = models.DecimalField(max_digits=4, decimal_places=2, default=Decimal("1"))

    class Meta:
        abstract = True

    @property
    def priced_vehicle(self) -> Vehicle:
        """The vehicle class the trip is priced for (derived: see ``jobs.pricing``)."""
        return smallest_vehicle_for(self.package_size)


class Quote(PricedTrip):
    """A priced trip the shop may turn into a job until ``expires_at``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    shop = models.ForeignKey("marketplace.Shop", on_delete=models.CASCADE, related_name="quotes")
    pickup_eta_s = models.PositiveIntegerField(help_text="Nearest courier to pickup.")
    dropoff_eta_s = models.PositiveIntegerField(help_text="Pickup to dropoff.")
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    @property
    def delivery_eta_s(self) -> int:
        """Seconds from now until delivery: a courier to the pickup, then the trip."""
        return self.pickup_eta_s + self.dropoff_eta_s

    def __str__(self) -> str:
        return f"quote {self.pk}"


def new_tracking_token() -> str:
    """Migration 0001's default for the plaintext token column that 0004 replaced."""
    return secrets.token_urlsafe(24)


def new_tracking_salt() -> str:
    """The random half of a tracking token (192 bits); see jobs.tracking.tokens."""
    return secrets.token_urlsafe(24)


class Job(PricedTrip):
    """One pickup → dropoff delivery posted by a shop."""

    Status = JobStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    shop = models.ForeignKey("marketplace.Shop", on_delete=models.PROTECT, related_name="jobs")
    quote = models.OneToOneField(
        Quote, on_delete=models.SET_NULL, null=True, blank=True, related_name="job"
    )
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING, db_index=True
    )
    courier = models.ForeignKey(
        Courier, on_delete=models.PROTECT, null=True, blank=True, related_name="jobs"
    )
    external_ref = models.CharField(max_length=100, blank=True, default="")
    tip_minor = models.PositiveBigIntegerField(default=0)
    cancellation_fee_charged_minor = models.PositiveBigIntegerField(default=0)

    # What the recipient chose.
    delivery_option = models.CharField(
        max_length=24, choices=DeliveryOption.choices, default=DeliveryOption.HAND_TO_RECIPIENT
    )
    recipient_name = models.CharField(max_length=100, blank=True, default="")
    recipient_phone = models.CharField(max_length=32, blank=True, default="")
    recipient_email = models.EmailField(blank=True, default="")
    pin_required = models.BooleanField(default=False)
    recipient_pin = models.CharField(max_length=8, blank=True, default="")
    pin_failed_attempts = models.PositiveSmallIntegerField(default=0)
    is_pin_locked = models.BooleanField(default=False)
    locker_id = models.CharField(max_length=64, blank=True, default="")
    locker_passcode = models.CharField(max_length=16, blank=True, default="")
    alternate_address = models.CharField(max_length=255, blank=True, default="")
    alternate_point = models.PointField(geography=True, srid=4326, null=True, blank=True)
    alternate_note = models.CharField(max_length=500, blank=True, default="")

    # The recipient's tracking link. Only the SHA-256 of its token is stored; the token is
    # an HMAC of the salt under SECRET_KEY (jobs.tracking.tokens), so a database leak
    # reveals no live link. Rotating draws a new salt.
    tracking_salt = models.CharField(max_length=64, default=new_tracking_salt)
    tracking_token_hash = models.CharField(max_length=64, unique=True)
    # What the recipient told us on the tracking page.
    recipient_instructions = models.CharField(max_length=500, blank=True, default="")
    # The recipient's delivery window start (deliver_before is its end), when rescheduled.
    deliver_after = models.DateTimeField(null=True, blank=True)
    # Idempotent posting: the shop's key and a hash of the request body it came with.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True, default="")
    # The first answer to that post, replayed to a retry with the same key (the tracking
    # token and URL are left out: they are derived when answering, never stored).
    idempotent_status = models.PositiveSmallIntegerField(null=True, blank=True)
    idempotent_body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)

    # When a scheduled job is handed to dispatch.
    release_at = models.DateTimeField(null=True, blank=True)
    # Dispatch progress: the round (radius step) it is in.
    dispatch_round = models.PositiveSmallIntegerField(default=0)
    # Each time the job (re)enters pending (posted, reposted, dropped, released) a new
    # dispatch attempt starts: couriers offered it before may be offered it again.
    dispatch_attempt = models.PositiveIntegerField(default=1)
    dispatch_mode = models.CharField(
        max_length=16, choices=DispatchMode.choices, blank=True, default=""
    )

    # A sandbox shop's instructions for the built-in robo courier (jobs.sandbox.specs),
    # normalised; null for every other job.
    test_specifications = models.JSONField(null=True, blank=True)

    needs_review = models.BooleanField(default=False)
    review_reason = models.CharField(max_length=255, blank=True, default="")
    # Sequence of the last JobEvent; webhooks carry it so receivers can order them.
    last_event_seq = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    picked_up_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # When the job reached delivered, returned or cancelled; its tracking link dies
    # TRACKING_LINK_TTL_HOURS later.
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["shop", "-created_at"], name="job_shop_created"),
            models.Index(
                fields=["release_at"],
                condition=models.Q(status=JobStatus.SCHEDULED),
                name="job_scheduled_release",
            ),
            GistIndex(fields=["pickup_point"], name="job_pickup_point_gist"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["shop", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="job_unique_idempotency_key_per_shop",
            ),
            models.UniqueConstraint(
                fields=["courier"],
                condition=models.Q(status__in=COURIER_ACTIVE_STATUSES),
                name="job_one_active_job_per_courier",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=JobStatus.values), name="job_status_known"
            ),
            models.CheckConstraint(
                condition=~models.Q(status__in=COURIER_ACTIVE_STATUSES)
                | models.Q(courier__isnull=False),
                name="job_active_has_courier",
            ),
            models.CheckConstraint(
                condition=models.Q(courier_payout_minor__lte=models.F("total_minor")),
                name="job_payout_within_total",
            ),
        ]

    def __str__(self) -> str:
        return f"job {self.pk} ({self.status})"


class ActorRole(models.TextChoices):
    SHOP = "shop", "Shop"
    COURIER = "courier", "Courier"
    STAFF = "staff", "Staff"
    SYSTEM = "system", "System"
    RECIPIENT = "recipient", "Recipient"


class EventKind(models.TextChoices):
    """What a JobEvent records: a status change, or something said about the job."""

    STATUS = "status", "Status change"
    INSTRUCTIONS = "instructions_updated", "Recipient instructions updated"
    DELIVERY_OPTION = "delivery_option_changed", "Delivery option changed"
    RESCHEDULED = "rescheduled", "Rescheduled"
    RATED = "rated", "Rated"
    PROBLEM = "problem_reported", "Problem reported"
    TRACKING_ROTATED = "tracking_link_rotated", "Tracking link rotated"
    # A dispute on the job changed (payments); ``data["type"]`` is ``dispute.<what>``.
    DISPUTE = "dispute", "Dispute updated"


class JobEvent(models.Model):
    """One step in a job's history: who moved it, from where to where, and why."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField(help_text="1, 2, 3… per job.")
    from_status = models.CharField(max_length=16, choices=JobStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=JobStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    actor_role = models.CharField(max_length=16, choices=ActorRole.choices)
    kind = models.CharField(max_length=32, choices=EventKind.choices, default=EventKind.STATUS)
    courier = models.ForeignKey(
        Courier, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    point = models.PointField(geography=True, srid=4326, null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["job", "seq"], name="jobevent_unique_seq_per_job"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id} #{self.seq}: {self.from_status or '∅'} → {self.to_status}"
