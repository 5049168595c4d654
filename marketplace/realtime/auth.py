"""WebSocket authentication with the REST API's token.

The token may come as an ``Authorization: Token <key>`` header (native clients), as the
subprotocol pair ``["token", "<key>"]`` (browsers cannot set headers), or as
``?token=<key>`` (last resort: query strings end up in access logs). The middleware only
resolves the user; consumers decide, and close with 4401 when there is none.

Only the canonical query key ``token`` counts: ``?%74oken=``, ``?TOKEN=`` and other
spellings are ignored (the log filter redacts them anyway, but a key that authenticates
must be one the redaction is sure to recognise).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser

from marketplace.api.auth import token_lookup

TOKEN_SUBPROTOCOL = "token"
QUERY_TOKEN_KEY = "token"


def token_from_scope(scope: dict[str, Any]) -> tuple[str | None, str | None]:
    """The token key in the handshake and the subprotocol to accept, if any."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            if scheme.lower() == "token" and key.strip():
                return key.strip(), None
    subprotocols = scope.get("subprotocols") or []
    if TOKEN_SUBPROTOCOL in subprotocols:
        index = subprotocols.index(TOKEN_SUBPROTOCOL)
        if index + 1 < len(subprotocols):
            return subprotocols[index + 1], TOKEN_SUBPROTOCOL
    key = query_token(scope.get("query_string", b"").decode("latin-1"))
    return (key, None) if key else (None, None)


def query_token(query_string: str) -> str | None:
    """The value of the first ``token=`` pair, matched on the raw, undecoded key."""
    for pair in query_string.split("&"):
        name, has_value, value = pair.partition("=")
        if name == QUERY_TOKEN_KEY and has_value and value:
            return unquote_plus(value)
    return None


@database_sync_to_async
def _user_for_key(key: str) -> Any:
    token = token_lookup(key)
    return token.user if token else AnonymousUser()


class TokenAuthMiddleware(BaseMiddleware):
    """Sets ``scope["user"]`` (AnonymousUser when the token is missing or wrong)."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        key, subprotocol = token_from_scope(scope)
        scope = dict(scope)
        scope["user"] = await _user_for_key(key) if key else AnonymousUser()
        scope["auth_subprotocol"] = subprotocol
        return await super().__call__(scope, receive, send)
