"""The task broker: one Redis connection pool per process, shared by every enqueue."""

from __future__ import annotations

import threading

from django_q.brokers import get_broker
from django_q.tasks import async_task

from marketplace.qbroker import RedisBroker


def test_every_broker_shares_one_connection_pool() -> None:
    first, second = get_broker(), get_broker("webhooks")

    assert isinstance(first, RedisBroker)
    assert first.connection is second.connection
    assert first.list_key != second.list_key


def test_enqueues_reuse_one_redis_connection_across_calls_and_threads() -> None:
    broker = get_broker()
    broker.delete_queue()
    client_ids: set[int] = set()

    def enqueue_and_note() -> None:
        async_task("math.floor", 1.5)
        client_ids.add(get_broker().connection.client_id())

    enqueue_and_note()
    enqueue_and_note()
    threads = [threading.Thread(target=enqueue_and_note) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert broker.queue_size() == 5
    # A pool hands a thread whichever idle connection it has: at most one per
    # concurrent caller, never a new one per enqueue.
    assert 1 <= len(client_ids) <= 4
    broker.delete_queue()
