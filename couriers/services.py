"""Writes for couriers: registration."""

from __future__ import annotations

from django.db import transaction
from rest_framework.authtoken.models import Token

from couriers.models import DEFAULT_CAPACITY, Courier, Vehicle
from marketplace.models import User
from marketplace.services import user_create


@transaction.atomic
def courier_register(
    *,
    username: str,
    password: str,
    vehicle: Vehicle,
    email: str = "",
    phone: str = "",
    first_name: str = "",
    last_name: str = "",
) -> tuple[User, Courier, Token]:
    """Create a courier (offline until they go online), their user and API token."""
    user = user_create(
        username=username,
        password=password,
        email=email,
        phone=phone,
        first_name=first_name,
        last_name=last_name,
    )
    courier = Courier.objects.create(
        user=user, vehicle=vehicle, capacity=DEFAULT_CAPACITY[Vehicle(vehicle)]
    )
    return user, courier, Token.objects.create(user=user)
