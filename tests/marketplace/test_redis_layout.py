"""The cache and the task queue live in different Redis databases."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django_q.brokers import get_broker
from django_q.tasks import async_task


@pytest.fixture
def broker():
    queue = get_broker()
    queue.purge_queue()
    yield queue
    queue.purge_queue()


def test_clearing_the_cache_keeps_queued_tasks(broker) -> None:
    async_task("math.copysign", 2, -3)
    cache.set("throttle", 1)
    assert broker.queue_size() == 1

    cache.clear()

    assert cache.get("throttle") is None
    assert broker.queue_size() == 1
