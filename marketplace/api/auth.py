"""Token authentication that loads the user's role objects in the same query."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token


def token_lookup(key: str) -> Token | None:
    """The token ``key`` of an active user, with user, shop and courier joined, or None."""
    return (
        Token.objects.select_related("user", "user__shop", "user__courier")
        .filter(key=key, user__is_active=True)
        .first()
    )


class TokenAuthentication(authentication.TokenAuthentication):
    """``Authorization: Token <key>``, one query for user, shop and courier."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        token = token_lookup(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return token.user, token
