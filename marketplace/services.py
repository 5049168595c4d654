"""Writes for users and shops: registration."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

from marketplace.models import Shop, User

USERNAME_TAKEN = "A user with that username already exists."


def user_create(
    *,
    username: str,
    password: str,
    email: str = "",
    phone: str = "",
    first_name: str = "",
    last_name: str = "",
    shop: Shop | None = None,
) -> User:
    """Create an active user with a checked password; raise ValidationError naming the field.

    Usernames are unique regardless of case. The database constraint decides, so two
    concurrent sign-ups with one name cannot both win. Call inside a transaction.
    """
    user = User(
        username=username,
        email=email,
        phone=phone,
        first_name=first_name,
        last_name=last_name,
        shop=shop,
    )
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        # The only unique constraints on users are the username ones.
        raise ValidationError({"username": [USERNAME_TAKEN]}) from exc
    return user


@transaction.atomic
def shop_register(
    *,
    username: str,
    password: str,
    email: str = "",
    phone: str = "",
    shop_name: str,
    default_pickup_address: str = "",
    default_pickup_point: Point | None = None,
) -> tuple[User, Shop, Token]:
    """Create a shop, its first staff user and that user's API token, all or nothing."""
    shop = Shop.objects.create(
        name=shop_name,
        default_pickup_address=default_pickup_address,
        default_pickup_point=default_pickup_point,
    )
    user = user_create(username=username, password=password, email=email, phone=phone, shop=shop)
    return user, shop, Token.objects.create(user=user)


def token_obtain(*, user: User) -> Token:
    """The user's API token, created on first sign-in."""
    token, _ = Token.objects.get_or_create(user=user)
    return token
