"""Batched position writes: two statements per batch, no point moved back in time."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.contrib.gis.geos import Point
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from couriers.ingest import PingBuffer, latest_per_courier, pings_write
from couriers.locations import FLAG_INACCURATE, FLAG_OUT_OF_ORDER, AcceptedPing, LocationFix
from couriers.models import Courier, LocationPing
from tests.couriers.conftest import online_courier
from tests.factories import CourierFactory


def ping(courier: Courier, seconds_ago: float, lat: float = 52.5, flag: str = "") -> AcceptedPing:
    now = timezone.now()
    fix = LocationFix(
        lat=lat,
        lng=13.4,
        recorded_at=now - timedelta(seconds=seconds_ago),
        accuracy_m=5.0,
        heading=90.0,
        speed_mps=3.5,
    )
    return AcceptedPing(courier.pk, fix, now, flag)


@pytest.mark.django_db
def test_a_batch_is_one_statement_for_every_courier_and_breadcrumb() -> None:
    couriers = CourierFactory.create_batch(50)
    pings = [ping(c, seconds_ago=s, lat=52.5 + s / 1000) for c in couriers for s in (3, 2, 1)]

    with CaptureQueriesContext(connection) as queries:
        pings_write(pings)

    assert len(queries) == 1
    assert "INSERT INTO couriers_locationping" in queries[0]["sql"]
    assert "UPDATE couriers_courier" in queries[0]["sql"]
    assert LocationPing.objects.count() == 150
    courier = Courier.objects.get(pk=couriers[7].pk)
    assert courier.current_point.y == pytest.approx(52.501)  # the newest of the three
    assert courier.position_recorded_at == pings[7 * 3 + 2].fix.recorded_at
    assert courier.position_accuracy_m == 5.0
    assert courier.is_position_trusted is True
    assert courier.last_seen_at == pings[7 * 3 + 2].received_at


@pytest.mark.django_db
def test_breadcrumbs_keep_every_field_and_flag() -> None:
    courier = CourierFactory()
    kept = ping(courier, 1, flag=FLAG_INACCURATE)

    pings_write([kept])

    row = LocationPing.objects.get()
    assert (row.courier_id, row.point.x, row.point.y) == (courier.pk, 13.4, 52.5)
    assert (row.recorded_at, row.received_at) == (kept.fix.recorded_at, kept.received_at)
    assert (row.accuracy_m, row.heading, row.speed_mps, row.flag) == (5.0, 90.0, 3.5, "inaccurate")
    assert Courier.objects.get(pk=courier.pk).is_position_trusted is False


@pytest.mark.django_db
def test_the_where_clause_never_moves_a_point_back_in_time() -> None:
    courier = online_courier(current_point=Point(13.0, 52.0, srid=4326))
    courier.position_recorded_at = timezone.now()
    courier.save()

    pings_write([ping(courier, seconds_ago=30)])  # a writer that lost the race

    courier.refresh_from_db()
    assert (courier.current_point.x, courier.current_point.y) == (13.0, 52.0)
    assert LocationPing.objects.filter(courier=courier).count() == 1  # still a breadcrumb


def test_latest_per_courier_skips_out_of_order_pings() -> None:
    a, b = CourierFactory.build(pk=1), CourierFactory.build(pk=2)
    newest_a = ping(a, 1)
    pings = [ping(a, 5), newest_a, ping(a, 0, flag=FLAG_OUT_OF_ORDER), ping(b, 3)]

    assert [p.courier_pk for p in latest_per_courier(pings)] == [1, 2]
    assert latest_per_courier(pings)[0] is newest_a


@pytest.mark.django_db(transaction=True)
def test_the_buffer_writes_many_pings_in_one_flush() -> None:
    buffer = PingBuffer()
    couriers = CourierFactory.create_batch(20)
    try:
        for second in range(10):
            buffer.add([ping(c, seconds_ago=20 - second) for c in couriers])
        buffer.flush()  # whatever the thread has not written yet

        assert LocationPing.objects.count() == 200
        # 200 pings < LOCATION_FLUSH_MAX_PINGS: one flush, or two if the thread woke mid-way.
        assert 1 <= buffer.flushes <= 2
        assert buffer.pending() == 0
    finally:
        buffer.stop()


@pytest.mark.django_db(transaction=True)
def test_a_full_buffer_wakes_the_writer_without_waiting_for_the_interval(settings) -> None:
    settings.LOCATION_FLUSH_MAX_PINGS = 40
    settings.LOCATION_FLUSH_INTERVAL_MS = 600_000  # only the size can wake the thread here
    buffer = PingBuffer()
    couriers = CourierFactory.create_batch(10)
    try:
        buffer.add([ping(c, seconds_ago=s) for c in couriers for s in range(1, 11)])
        deadline = time.monotonic() + 30
        while buffer.flushes == 0 and time.monotonic() < deadline:
            time.sleep(0.01)

        # Everything waiting goes as one batch (one statement), however many there are.
        assert buffer.flushes == 1
        assert buffer.pending() == 0
        assert LocationPing.objects.count() == 100
    finally:
        buffer.stop()


@pytest.mark.django_db(transaction=True)
async def test_sockets_wait_while_the_writer_is_behind_and_resume_when_it_catches_up(
    settings,
) -> None:
    settings.LOCATION_FLUSH_MAX_PINGS = 2  # backed up above 2 x BACKLOG_FLUSHES = 20
    buffer = PingBuffer()
    couriers = await database_sync_to_async(CourierFactory.create_batch)(5)
    buffer._write_lock.acquire()  # the writer cannot flush until released
    try:
        buffer.add([ping(c, seconds_ago=s) for c in couriers for s in range(1, 6)])
        assert buffer.is_backed_up()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(buffer.wait_for_writer(), timeout=0.3)
    finally:
        buffer._write_lock.release()
    await asyncio.wait_for(buffer.wait_for_writer(), timeout=30)

    assert not buffer.is_backed_up()
    await database_sync_to_async(buffer.stop)()
    assert await database_sync_to_async(LocationPing.objects.count)() == 25
