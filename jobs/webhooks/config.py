"""Webhook configuration: which URLs may receive webhooks, secrets, and the shop's settings."""

from __future__ import annotations

import ipaddress
import logging
import secrets
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from jobs.models import WebhookDelivery, WebhookStatus
from marketplace.models import Shop, User

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"


def webhook_url_problem(url: str, *, resolve: bool = False) -> str | None:
    """Why ``url`` may not receive webhooks, or None when it may.

    Production (``WEBHOOK_ALLOW_INSECURE_URLS`` off): https only, and the host must not be
    localhost or a loopback, private, link-local or reserved address. With ``resolve`` the
    host name is looked up too (done at send time, not in the request).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Enter an http(s) URL."
    if settings.WEBHOOK_ALLOW_INSECURE_URLS:
        return None
    if parts.scheme != "https":
        return "Webhook URLs must use https://."
    host = parts.hostname.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return "Webhook URLs must point to a public address."
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        if not resolve:
            return None
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
        except OSError as exc:
            return f"Cannot resolve {host}: {exc}"
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if any(not address.is_global for address in addresses):
        return "Webhook URLs must point to a public address."
    return None


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def webhook_secret_hint(secret: str) -> str | None:
    """Enough of a secret to tell which one is configured, not enough to use it."""
    if not secret:
        return None
    return f"{secret[: len(SECRET_PREFIX)]}...{secret[-4:]}"


@transaction.atomic
def shop_webhook_set(
    *, shop: Shop, url: str, rotate_secret: bool = False, actor: User
) -> tuple[Shop, bool]:
    """Point the shop's webhooks at ``url``; return the shop and whether the secret changed.

    A secret is generated the first time (or after webhooks were turned off) and whenever
    ``rotate_secret`` is set; otherwise the current one is kept. Rotation takes effect at
    once: every delivery sent afterwards, including retries, is signed with the new one.
    Locks the shop row. Raises ``ValidationError`` naming ``url``.
    """
    problem = webhook_url_problem(url)
    if problem:
        raise ValidationError({"url": [problem]})
    locked = Shop.objects.select_for_update().get(pk=shop.pk)
    rotated = rotate_secret or not locked.webhook_secret
    locked.webhook_url = url
    if rotated:
        locked.webhook_secret = new_secret()
    locked.save(update_fields=["webhook_url", "webhook_secret", "updated_at"])
    logger.info("shop %s webhook set by user %s (rotated=%s)", locked.pk, actor.pk, rotated)
    return locked, rotated


@transaction.atomic
def shop_webhook_disable(*, shop: Shop, actor: User) -> int:
    """Turn the shop's webhooks off: clear URL and secret, abandon pending deliveries.

    Returns how many pending deliveries were marked ``gave_up``. Locks the shop row.
    """
    locked = Shop.objects.select_for_update().get(pk=shop.pk)
    locked.webhook_url = ""
    locked.webhook_secret = ""
    locked.save(update_fields=["webhook_url", "webhook_secret", "updated_at"])
    abandoned = WebhookDelivery.objects.filter(
        shop_id=locked.pk, status=WebhookStatus.PENDING
    ).update(status=WebhookStatus.GAVE_UP)
    logger.info("shop %s webhooks off by user %s (%d abandoned)", locked.pk, actor.pk, abandoned)
    return abandoned
