"""Proof of delivery and the photos behind it."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.gis.db import models

from jobs.models.jobs import Job


class PhotoKind(models.TextChoices):
    PICKUP = "pickup", "Pickup"
    DELIVERY = "delivery", "Delivery"
    SIGNATURE = "signature", "Signature"


class JobPhoto(models.Model):
    """An image uploaded as proof. Stored in the database so every app node can serve it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="photos")
    kind = models.CharField(max_length=16, choices=PhotoKind.choices)
    content_type = models.CharField(max_length=32)
    data = models.BinaryField()
    size_bytes = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} photo for {self.job_id}"


class ProofOfDelivery(models.Model):
    """What the courier showed at the door: PIN, photo, signature, name and position."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="proof")
    is_pin_verified = models.BooleanField(default=False)
    photo = models.ForeignKey(
        JobPhoto, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    signature = models.ForeignKey(
        JobPhoto, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    recipient_name = models.CharField(max_length=100, blank=True, default="")
    point = models.PointField(geography=True, srid=4326, null=True, blank=True)
    distance_to_dropoff_m = models.PositiveIntegerField(null=True, blank=True)
    is_outside_geofence = models.BooleanField(default=False)
    geofence_reason = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"proof for {self.job_id}"
