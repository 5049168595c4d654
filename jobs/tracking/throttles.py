"""Rate limits for the public tracking link: per token and per client address.

Fixed one-window counters in the shared cache (Redis), so every app process counts
together. The page, the JSON endpoint, the recipient's actions and socket connects all
count against both limits (TRACKING_RATE_PER_TOKEN, TRACKING_RATE_PER_ADDRESS, e.g.
``60/min``). The token is counted by its hash, so unknown tokens count too (guessing is
limited by the address limit) and no token is written to Redis.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle

from jobs.tracking.tokens import tracking_token_hash

_PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"60/min"`` → (60, 60): requests allowed, window in seconds."""
    count, _, period = rate.partition("/")
    try:
        return int(count), _PERIODS[period.strip().lower()]
    except (ValueError, KeyError):
        raise ImproperlyConfigured(f"{rate!r} is not a rate; write e.g. 60/min.") from None


def _hit(key: str, rate: str, *, now: float) -> int | None:
    """Count one request on ``key``; the seconds to wait when over the limit, else None."""
    limit, period = parse_rate(rate)
    window = int(now) // period
    cache_key = f"tracking-rate:{key}:{window}"
    cache.add(cache_key, 0, timeout=period + 1)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr: this request opens the window
        cache.set(cache_key, 1, timeout=period + 1)
        count = 1
    if count > limit:
        return max(1, period - int(now) % period)
    return None


def tracking_rate_check(*, token: str, address: str, now: float | None = None) -> int | None:
    """Count a request for ``token`` from ``address``; Retry-After seconds when refused."""
    now = time.time() if now is None else now
    waits = [
        _hit(f"addr:{address}", settings.TRACKING_RATE_PER_ADDRESS, now=now),
        _hit(f"token:{tracking_token_hash(token)[:32]}", settings.TRACKING_RATE_PER_TOKEN, now=now),
    ]
    refused = [wait for wait in waits if wait is not None]
    return max(refused) if refused else None


def client_address(request: HttpRequest) -> str:
    """The client address as the API's throttles see it (NUM_PROXIES aware)."""
    return BaseThrottle().get_ident(request)
