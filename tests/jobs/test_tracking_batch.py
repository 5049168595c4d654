"""A job event's socket events, frames, tracking state and tracker count leave in one Redis
round trip."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis
from django.db import transaction

import jobs.tracking.state as state_module
from jobs.dispatch import dispatch_job, offer_accept
from jobs.lifecycle import job_transition
from jobs.models import Job, JobStatus, Offer
from jobs.tracking.state import (
    TrackingState,
    _key,
    _parse,
    _sync_client,
    tracking_state_write_queue,
)
from marketplace.realtime.broadcast import _publisher, batch
from marketplace.realtime.groups import courier_group, job_group
from tests.jobs.dispatch_helpers import courier_at, pending_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts redis-py's round trips: single commands and pipelines."""
    calls = {"commands": 0, "pipelines": 0}
    command, pipeline = redis.Redis.execute_command, redis.client.Pipeline.execute

    def counted_command(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["commands"] += 1
        return command(self, *args, **kwargs)

    def counted_pipeline(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["pipelines"] += 1
        return pipeline(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "execute_command", counted_command)
    monkeypatch.setattr(redis.client.Pipeline, "execute", counted_pipeline)
    return calls


def _received(listener: Any, publisher: Any, *, count: int) -> list[dict[str, Any]]:
    """The next ``count`` messages on the listener's channels, decoded (5 s at most)."""
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + 5
    while len(received) < count and time.monotonic() < deadline:
        message = listener.get_message(timeout=0.5)
        if message is not None and message["type"] == "message":
            received.append(publisher.layer.deserialize(message["data"]))
    return received


def test_a_move_sends_frames_stores_its_state_and_counts_trackers_at_once(
    django_capture_on_commit_callbacks: Any, redis_calls: dict[str, int]
) -> None:
    job = pending_job()
    publisher = _publisher()
    listener = publisher.shards[0].pubsub(ignore_subscribe_messages=True)
    listener.subscribe(publisher.channel(job_group(job.pk)))
    listener.get_message(timeout=1)  # the subscription's confirmation
    redis_calls.update(commands=0, pipelines=0)

    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        job_transition(job=Job.objects.get(pk=job.pk), to=JobStatus.CANCELLED, actor=None)

    assert len(callbacks) == 1  # nothing else after a cancel: no courier, task or webhook
    assert redis_calls == {"commands": 0, "pipelines": 1}
    (frame,) = (message["payload"] for message in _received(listener, publisher, count=1))
    assert (frame["type"], frame["status"], frame["seq"]) == ("job_update", "cancelled", 2)
    stored = _parse(_sync_client().hgetall(_key(job.pk)))
    assert (stored.seq, stored.status) == (2, "cancelled")
    listener.close()


def test_a_state_on_another_redis_database_is_not_queued_on_the_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pending = batch()
    where = pending.client.connection_pool.connection_kwargs
    elsewhere = redis.Redis(host=where["host"], port=where["port"], db=(where["db"] + 1) % 16)
    monkeypatch.setattr(state_module, "_client", elsewhere)
    state = TrackingState(
        seq=1, status="pending", shop_id=1, courier_id=None, pickup=(1, 2), dropoff=(3, 4)
    )

    queued = tracking_state_write_queue(pending, state=state, job_pk="x")

    assert queued is None
    assert pending.execute() == []


def test_an_accept_tells_the_courier_socket_before_the_frames_in_the_same_round_trip(
    django_capture_on_commit_callbacks: Any, redis_calls: dict[str, int]
) -> None:
    courier_at(500)
    job = pending_job()
    dispatch_job(job_pk=job.pk)
    offer = Offer.objects.select_related("courier__user").get(job=job)
    publisher = _publisher()
    listener = publisher.shards[0].pubsub(ignore_subscribe_messages=True)
    listener.subscribe(publisher.channel(courier_group(offer.courier_id)))
    listener.get_message(timeout=1)  # the subscription's confirmation
    redis_calls.update(commands=0, pipelines=0)

    with django_capture_on_commit_callbacks(execute=True):
        offer_accept(offer_pk=offer.pk, courier=offer.courier)

    assert redis_calls == {"commands": 0, "pipelines": 1}
    first, second = _received(listener, publisher, count=2)
    assert (first["type"], first["job_id"], first["holds"]) == ("courier.job", str(job.pk), True)
    assert (second["payload"]["type"], second["payload"]["status"]) == ("job_update", "assigned")
    listener.close()
