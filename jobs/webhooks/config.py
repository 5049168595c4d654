"""Webhook configuration: which URLs may receive webhooks, secrets, and the shop's settings."""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from jobs.models import WebhookDelivery, WebhookStatus
from marketplace.models import Shop, User

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"


# IPv6 prefixes that carry an IPv4 address inside; the embedded address decides.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix
# RFC 8215 local-use NAT64: where the IPv4 sits depends on the operator's prefix length, and
# the prefix is never globally routed, so it is refused outright.
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d (RFC 4291)
# Legacy IPv4 spellings (inet_aton): 0x7f.1, 2130706433, 127.1, 0177.0.0.1 ...
_LEGACY_IPV4 = re.compile(r"^(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}$")

Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, as text (``getaddrinfo``, TCP)."""
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)  # the Teredo server and the (de-obfuscated) client
    if address in _NAT64 or address in _IPV4_COMPATIBLE:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return []


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """May webhooks go to ``address``? Globally routable unicast, embedded IPv4 included.

    Python's ``is_global`` is true for NAT64, 6to4 and IPv4-compatible forms whatever IPv4
    they carry (``64:ff9b::a9fe:a9fe`` is 169.254.169.254 through a NAT64 gateway), so for
    an IPv6 address that embeds IPv4 the embedded addresses decide: all must be public.
    """
    if address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64_LOCAL:
            return False
        embedded = embedded_ipv4(address)
        if embedded:
            return all(is_public_address(inner) for inner in embedded)
    return address.is_global


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


@dataclass(frozen=True)
class WebhookTarget:
    """A URL that passed the policy, and the addresses it was checked against."""

    url: str
    host: str
    port: int
    addresses: tuple[str, ...]


def webhook_target(url: str, *, resolver: Resolver | None = None) -> WebhookTarget | str:
    """Resolve and check ``url`` once: the target to connect to, or why it is refused.

    The sender connects to exactly these addresses, so a name cannot pass the check with
    one address and then be resolved again to another (DNS rebinding). With
    ``WEBHOOK_ALLOW_INSECURE_URLS`` the addresses are still pinned, just not judged.
    """
    problem = webhook_url_problem(url)
    if problem:
        return problem
    parts = urlsplit(url)
    host = parts.hostname.rstrip(".").lower()
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "Enter an http(s) URL."
    literal = _literal_address(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            found = (resolver or system_resolver)(host, port)
            # A scoped link-local answer ("fe80::1%eth0") keeps its scope for connecting.
            addresses = [ipaddress.ip_address(address) for address in found]
        except OSError as exc:
            return f"Cannot resolve {host}: {exc}"
        except ValueError:
            return f"Cannot resolve {host}: the resolver answered something that is not an address."
        if not addresses:
            return f"Cannot resolve {host}: no address."
    if not settings.WEBHOOK_ALLOW_INSECURE_URLS and not all(map(is_public_address, addresses)):
        return "Webhook URLs must point to a public address."
    return WebhookTarget(url=url, host=host, port=port, addresses=tuple(map(str, addresses)))


def webhook_url_problem(url: str, *, resolve: bool = False) -> str | None:
    """Why ``url`` may not receive webhooks, or None when it may.

    Production (``WEBHOOK_ALLOW_INSECURE_URLS`` off): https only, and the host must not be
    localhost or an address that is not public (``is_public_address``). With ``resolve``
    the host name is looked up too (``webhook_target`` does that at send time).
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
    literal = _literal_address(host)
    if literal is not None:
        return (
            None if is_public_address(literal) else "Webhook URLs must point to a public address."
        )
    if resolve:
        target = webhook_target(url)
        return target if isinstance(target, str) else None
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
