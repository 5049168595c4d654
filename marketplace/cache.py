"""The Redis cache backend, with one connection pool per process instead of one per request.

Django keeps cache backends in an ``asgiref`` ``Local`` that is not thread-critical, so
under ASGI every request context builds a new backend, and ``RedisCache`` a new client,
connection pool and TCP connection with it (the old ones are left to the garbage
collector). A profile of the API under load had a fifth of each throttle check in
opening connections. This backend hands every instance with the same servers and options
one shared client: redis-py's pool is thread-safe, and it resets itself in a forked child.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from django.utils.functional import cached_property


class RedisCache(DjangoRedisCache):
    """``django.core.cache.backends.redis.RedisCache`` sharing its client per process."""

    _clients: ClassVar[dict[tuple[Any, ...], RedisCacheClient]] = {}
    _clients_lock: ClassVar[threading.Lock] = threading.Lock()

    @cached_property
    def _cache(self) -> RedisCacheClient:
        key = (self._class, tuple(self._servers), repr(sorted(self._options.items())))
        with self._clients_lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = self._class(self._servers, **self._options)
        return client
