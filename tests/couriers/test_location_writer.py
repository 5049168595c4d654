"""The location writer: one retry after a lost connection, a logged drop after two
failures, and the flush when the process shuts down."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from couriers.ingest import PingBuffer
from couriers.locations import AcceptedPing, LocationFix
from couriers.models import Courier, LocationPing
from tests.e2e_server import database_url
from tests.factories import CourierFactory
from tests.workers import ROOT, cluster_env

pytestmark = pytest.mark.django_db(transaction=True)


def ping(courier_pk: int, lat: float = 52.5) -> AcceptedPing:
    now = timezone.now()
    fix = LocationFix(lat=lat, lng=13.4, recorded_at=now - timedelta(seconds=1), accuracy_m=5.0)
    return AcceptedPing(courier_pk, fix, now)


def terminate_this_threads_backend() -> None:
    """Kill this thread's database session from outside, as a failover or restart would."""
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    dsn = database_url(connection.settings_dict).replace("postgis://", "postgresql://", 1)
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_a_lost_connection_is_retried_once_and_nothing_is_lost(caplog) -> None:
    courier = CourierFactory()
    buffer = PingBuffer()
    buffer.add([ping(courier.pk, lat=52.51)])
    terminate_this_threads_backend()

    with caplog.at_level(logging.WARNING, logger="couriers.ingest"):
        assert buffer.flush() == 1

    assert list(LocationPing.objects.values_list("courier_id", flat=True)) == [courier.pk]
    assert Courier.objects.get(pk=courier.pk).current_point.y == 52.51
    assert buffer.flushes == 1
    messages = [r.getMessage() for r in caplog.records if r.name == "couriers.ingest"]
    assert len(messages) == 1
    assert messages[0].startswith("writing 1 pings failed (attempt 1): ")
    buffer.stop()


def test_a_batch_that_fails_twice_is_dropped_and_logged_and_the_writer_goes_on(caplog) -> None:
    courier = CourierFactory()
    buffer = PingBuffer()
    missing_courier = courier.pk + 10_000  # no such row: the breadcrumb's foreign key refuses

    with caplog.at_level(logging.WARNING, logger="couriers.ingest"):
        buffer.add([ping(missing_courier)])
        assert buffer.flush() == 1
        buffer.add([ping(courier.pk)])
        assert buffer.flush() == 1

    messages = [
        (r.levelname, r.getMessage()) for r in caplog.records if r.name == "couriers.ingest"
    ]
    assert [level for level, _ in messages] == ["WARNING", "WARNING", "ERROR"]
    assert messages[0][1].startswith("writing 1 pings failed (attempt 1): ")
    assert messages[1][1].startswith("writing 1 pings failed (attempt 2): ")
    assert messages[2][1] == "dropped 1 pings after two failed writes"
    assert list(LocationPing.objects.values_list("courier_id", flat=True)) == [courier.pk]
    assert buffer.flushes == 1
    buffer.stop()


SHUTDOWN = """
import sys
from datetime import timedelta
import django
django.setup()
from django.utils import timezone
from couriers.ingest import location_buffer
from couriers.locations import AcceptedPing, LocationFix

now = timezone.now()
pings = [
    AcceptedPing(int(sys.argv[1]), LocationFix(lat=52.5 + i / 1000, lng=13.4,
                 recorded_at=now - timedelta(seconds=10 - i)), now)
    for i in range(5)
]
location_buffer.add(pings)
print(location_buffer.pending(), location_buffer.flushes)
"""


def test_pings_still_queued_are_written_when_the_process_exits() -> None:
    courier = CourierFactory()
    # The writer thread would wait ten minutes: only the exit flush can store them.
    env = cluster_env(LOCATION_FLUSH_INTERVAL_MS="600000")

    result = subprocess.run(
        [sys.executable, "-c", SHUTDOWN, str(courier.pk)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["5", "0"]  # queued, nothing written before exit
    assert LocationPing.objects.filter(courier=courier).count() == 5
    assert Courier.objects.get(pk=courier.pk).current_point.y == 52.504
