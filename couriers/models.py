"""Courier profiles: vehicle, capacity, availability and last known position."""

from decimal import Decimal

from django.conf import settings
from django.contrib.gis.db import models
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
    # geography=True keeps distances in metres on the spheroid; spatial_index gives GiST.
    current_point = models.PointField(geography=True, srid=4326, null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    rating = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("5.00"),
        validators=[MinValueValidator(Decimal("1.00")), MaxValueValidator(Decimal("5.00"))],
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
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
