"""Courier profiles: vehicle, capacity, availability and last known position."""

from decimal import Decimal

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.indexes import BrinIndex, GistIndex
from django.core.validators import MaxValueValidator, MinValueValidator


class Vehicle(models.TextChoices):
    BIKE = "bike", "Bike"
    SCOOTER = "scooter", "Scooter"
    CAR = "car", "Car"
    VAN = "van", "Van"


class Capacity(models.TextChoices):
    """The largest package size a vehicle takes; sizes are ordered small < … < xl."""

    SMALL = "small", "Small"
    MEDIUM = "medium", "Medium"
    LARGE = "large", "Large"
    XL = "xl", "Extra large"


CAPACITY_RANK = {capacity: rank for rank, capacity in enumerate(Capacity)}

DEFAULT_CAPACITY = {
    Vehicle.BIKE: Capacity.SMALL,
    Vehicle.SCOOTER: Capacity.MEDIUM,
    Vehicle.CAR: Capacity.LARGE,
    Vehicle.VAN: Capacity.XL,
}


class CourierStatus(models.TextChoices):
    OFFLINE = "offline", "Offline"
    AVAILABLE = "available", "Available"
    BUSY = "busy", "Busy"


class Courier(models.Model):
    """A gig courier: one per user."""

    Status = CourierStatus

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="courier"
    )
    vehicle = models.CharField(max_length=16, choices=Vehicle.choices)
    capacity = models.CharField(
        max_length=16,
        choices=Capacity.choices,
        help_text="Largest package size the courier's vehicle takes.",
    )
    status = models.CharField(
        max_length=16, choices=CourierStatus.choices, default=CourierStatus.OFFLINE, db_index=True
    )
    # geography=True keeps distances in metres on the spheroid. Indexed only where it
    # matters, by the partial GiST index over matchable couriers (Meta.indexes).
    current_point = models.PointField(
        geography=True, srid=4326, null=True, blank=True, spatial_index=False
    )
    # When the device recorded current_point; older pings never move it back.
    position_recorded_at = models.DateTimeField(null=True, blank=True)
    position_accuracy_m = models.FloatField(null=True, blank=True)
    # False when the last position was too inaccurate or implied an impossible speed:
    # it is still shown, but never used for matching.
    is_position_trusted = models.BooleanField(default=False)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # Exponential moving average of offer answers (1 = accepts everything), for ranking.
    acceptance_rate = models.FloatField(default=1.0)
    rating = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("5.00"),
        validators=[MinValueValidator(Decimal("1.00")), MaxValueValidator(Decimal("5.00"))],
        help_text="Mean of the recipients' stars (5.00 until the first rating).",
    )
    # Database defaults too: benchmarks and tests insert couriers with raw SQL.
    rating_count = models.PositiveIntegerField(default=0, db_default=0)
    rating_stars_total = models.PositiveIntegerField(default=0, db_default=0)
    # A simulated courier: offered only sandbox shops' jobs, and never a real shop's.
    is_robo = models.BooleanField(
        "robo courier",
        default=False,
        db_default=False,
        help_text="Simulated courier: offered sandbox shops' jobs only.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # KNN matching scans only couriers who could take a job right now.
            GistIndex(
                fields=["current_point"],
                condition=models.Q(status=CourierStatus.AVAILABLE, is_position_trusted=True),
                name="courier_matchable_point_gist",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(acceptance_rate__gte=0, acceptance_rate__lte=1),
                name="courier_acceptance_rate_0_to_1",
            ),
            models.CheckConstraint(
                condition=models.Q(rating__gte=Decimal("1.00"), rating__lte=Decimal("5.00")),
                name="courier_rating_between_1_and_5",
            ),
            models.CheckConstraint(
                condition=models.Q(vehicle__in=Vehicle.values),
                name="courier_vehicle_known",
            ),
            models.CheckConstraint(
                condition=models.Q(capacity__in=Capacity.values),
                name="courier_capacity_known",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=CourierStatus.values),
                name="courier_status_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user.username} ({self.vehicle})"


class LocationPing(models.Model):
    """One position a courier's device reported: the breadcrumb trail behind a delivery."""

    courier = models.ForeignKey(Courier, on_delete=models.CASCADE, related_name="pings")
    point = models.PointField(geography=True, srid=4326, spatial_index=False)
    recorded_at = models.DateTimeField(help_text="When the device took the fix.")
    received_at = models.DateTimeField(help_text="When the server accepted it.")
    accuracy_m = models.FloatField(null=True, blank=True)
    heading = models.FloatField(null=True, blank=True)
    speed_mps = models.FloatField(null=True, blank=True)
    # Kept for review but not trusted for matching: e.g. "inaccurate", "implausible_speed".
    flag = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        indexes = [
            # "One courier over a time range" (route replay, disputes).
            models.Index(fields=["courier", "recorded_at"], name="ping_courier_recorded"),
            # Retention deletes by age; BRIN stays tiny on an append-only table.
            BrinIndex(fields=["received_at"], name="ping_received_brin"),
        ]

    def __str__(self) -> str:
        return f"ping {self.courier_id} @ {self.recorded_at:%Y-%m-%d %H:%M:%S}"
