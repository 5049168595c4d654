"""django-q2's Redis broker, with one shared connection pool and a heartbeat per queue.

django-q2 makes a new broker for every ``async_task``, and its Redis broker a new client
(and so a new connection pool and TCP connection) for every broker: each enqueue paid a
connect, and left the socket for the garbage collector. This broker shares one client per
Redis address per process (redis-py's pool is thread-safe and resets itself after fork).

django-q2's own heartbeat (``Stat``) says that a cluster runs, not which one: every
cluster of a site writes the same kind of key. The sentinel of each cluster saves its
``Stat`` through its broker about twice a second; this broker writes a second short-lived
key beside it holding the cluster's queue, so /healthz can tell the main cluster from the
webhook one.
"""

from __future__ import annotations

import threading

import redis
from django_q.brokers.redis_broker import Redis
from django_q.conf import Conf

# django-q2 lets a heartbeat live 3 s; ours lives as long.
QUEUE_KEY_SUFFIX = "queue"


def queue_key(stat_key: str) -> str:
    return f"{stat_key}:{QUEUE_KEY_SUFFIX}"


def queue_name(list_key: str) -> str:
    """``django_q:webhooks:q`` -> ``webhooks``."""
    return list_key.removeprefix("django_q:").removesuffix(":q")


_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def shared_connection() -> redis.Redis:
    """The process's client for the queue's Redis (``Q_REDIS_URL``), made on first use."""
    address = repr(Conf.REDIS)
    client = _clients.get(address)
    if client is None:
        with _clients_lock:
            client = _clients.get(address)
            if client is None:
                if isinstance(Conf.REDIS, str):
                    client = redis.Redis.from_url(Conf.REDIS)
                else:
                    client = redis.Redis(**Conf.REDIS)
                _clients[address] = client
    return client


class RedisBroker(Redis):
    @staticmethod
    def get_connection(list_key: str | None = None) -> redis.Redis:
        return shared_connection()

    def set_stat(self, key: str, value: str, timeout: int) -> None:
        pipe = self.connection.pipeline()
        pipe.set(key, value, timeout)
        pipe.set(queue_key(key), queue_name(self.list_key), timeout)
        pipe.execute()

    def get_stats(self, pattern: str) -> list[bytes] | None:
        # Only the Stat keys themselves: the queue keys share their prefix.
        keys = [
            key
            for key in self.connection.keys(pattern=pattern)
            if not key.endswith(f":{QUEUE_KEY_SUFFIX}".encode())
        ]
        if keys:
            return self.connection.mget(keys)
        return None

    def cluster_queues(self) -> dict[str, str]:
        """Running cluster id -> the queue it serves, from the heartbeat keys."""
        keys = self.connection.keys(pattern=f"{Conf.Q_STAT}:*:{QUEUE_KEY_SUFFIX}")
        if not keys:
            return {}
        names = self.connection.mget(keys)
        return {
            key.decode().split(":")[-2]: name.decode()
            for key, name in zip(keys, names, strict=True)
            if name is not None
        }
