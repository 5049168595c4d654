"""Users and shops: who can sign in, and the merchants who post jobs."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.contrib.gis.db import models
from django.db.models.functions import Lower


class Role(models.TextChoices):
    SHOP = "shop", "Shop"
    COURIER = "courier", "Courier"
    STAFF = "staff", "Staff"


class MarketplaceUserManager(UserManager):
    def get_by_natural_key(self, username: str) -> User:
        # Usernames are unique regardless of case, so sign-in ignores case too.
        return self.get(username__iexact=username)


class User(AbstractUser):
    """Anyone who signs in: a shop's staff, a courier, or platform staff."""

    shop = models.ForeignKey(
        "marketplace.Shop",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="members",
        help_text="The shop this user works for, if any.",
    )
    phone = models.CharField(max_length=32, blank=True)

    objects = MarketplaceUserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
        ]

    @property
    def role(self) -> Role | None:
        if self.is_staff:
            return Role.STAFF
        if self.shop_id is not None:
            return Role.SHOP
        if hasattr(self, "courier"):
            return Role.COURIER
        return None


class Shop(models.Model):
    """A merchant that posts pickup → dropoff jobs."""

    name = models.CharField(max_length=200)
    default_pickup_address = models.CharField(max_length=500, blank=True)
    default_pickup_point = models.PointField(geography=True, srid=4326, null=True, blank=True)
    webhook_url = models.URLField(max_length=500, blank=True)
    webhook_secret = models.CharField(max_length=128, blank=True, editable=False)
    is_sandbox = models.BooleanField(
        "sandbox shop",
        default=False,
        db_default=False,
        help_text=(
            "Test shop: its jobs go only to robo couriers, and its money moves only on the "
            "Stripe stand-in or in Stripe test mode."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name
