"""The admin sign-in page, throttled per client address and per username.

Failed sign-ins are counted in the shared cache (Redis), so the limit holds across app
nodes: after ``ADMIN_LOGIN_MAX_FAILURES`` failures for one username, or
``ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS`` from one client address, further attempts are
answered 429 for ``ADMIN_LOGIN_LOCKOUT_SECONDS`` without checking the password (a right
password does not get in either). The lock runs from the failure that reached the limit;
a successful sign-in clears that username's count. The client address is the one the API
throttles use (``NUM_PROXIES``). The API's own sign-in keeps its DRF throttle.
"""

from __future__ import annotations

import hashlib
import logging
import math

from django.conf import settings
from django.contrib import admin
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

_KEY_PREFIX = "admin-login-failures"


def _key(kind: str, value: str) -> str:
    # Hashed: usernames and addresses are client input, cache keys should not be.
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{_KEY_PREFIX}:{kind}:{digest}"


def _keys(*, address: str, username: str) -> list[tuple[str, int]]:
    """(cache key, failure limit) for the address and, when one was typed, the username."""
    keys = [(_key("address", address), settings.ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS)]
    if username:
        keys.append((_key("username", username), settings.ADMIN_LOGIN_MAX_FAILURES))
    return keys


def normalized_username(raw: str) -> str:
    """Usernames ignore case at sign-in, so their failures are counted that way too."""
    return raw.strip().casefold()


def admin_login_is_locked(*, address: str, username: str) -> bool:
    """Has the address or the username used up its failures?"""
    keys = _keys(address=address, username=username)
    counts = cache.get_many([key for key, _ in keys])
    return any(counts.get(key, 0) >= limit for key, limit in keys)


def admin_login_failed(*, address: str, username: str) -> None:
    """Count one failed sign-in for the address and the username."""
    lockout = settings.ADMIN_LOGIN_LOCKOUT_SECONDS
    for key, limit in _keys(address=address, username=username):
        cache.add(key, 0, timeout=lockout)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=lockout)
            count = 1
        if count >= limit:
            # Locked from now for the full lockout, however old the first failure is.
            cache.touch(key, timeout=lockout)


def admin_login_succeeded(*, username: str) -> None:
    cache.delete(_key("username", username))


def _locked_response(request: HttpRequest) -> HttpResponse:
    lockout = settings.ADMIN_LOGIN_LOCKOUT_SECONDS
    context = {
        **admin.site.each_context(request),
        "title": "Sign-in locked",
        "lockout_minutes": math.ceil(lockout / 60),
        "login_url": reverse("admin:login"),
    }
    response = TemplateResponse(request, "marketplace/admin/login_locked.html", context, status=429)
    response["Retry-After"] = str(lockout)
    return response


def throttled_admin_login(request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
    """``admin.site.login`` behind the lockout; mounted at the admin's login URL."""
    if request.method != "POST":
        return admin.site.login(request, extra_context)
    address = BaseThrottle().get_ident(request)
    username = normalized_username(request.POST.get("username", ""))
    try:
        if admin_login_is_locked(address=address, username=username):
            logger.info("admin sign-in refused: locked (address %s)", address)
            return _locked_response(request)
    except RedisError as exc:
        # Without the shared counts the lock cannot be judged; staff must still get in.
        logger.warning("admin sign-in throttle unavailable (%s); not enforced", exc)
        return admin.site.login(request, extra_context)
    response = admin.site.login(request, extra_context)
    signed_in = response.status_code == 302 and request.user.is_authenticated
    try:
        if signed_in:
            admin_login_succeeded(username=username)
        else:
            admin_login_failed(address=address, username=username)
    except RedisError as exc:
        logger.warning("admin sign-in throttle could not count an attempt (%s)", exc)
    return response
