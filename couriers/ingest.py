"""Batched position writes: two statements per batch, from a per-process buffer on a thread.

``pings_write`` stores a batch in ONE statement (one round trip, one transaction): a
multi-row ``INSERT ... SELECT FROM unnest(...)`` of every ping into
``couriers_locationping``, and an ``UPDATE couriers_courier ... FROM unnest(...)`` with the
latest in-order fix per courier, whose WHERE clause refuses to move a point back in time
(so concurrent writers in several processes cannot reorder it). ``unnest`` of one array
per column is the ``FROM (VALUES ...)`` join with a constant statement text: 16
parameters whatever the batch size, prepared once.

``location_buffer`` (one per process) collects pings from the courier sockets and a
dedicated thread writes them every LOCATION_FLUSH_INTERVAL_MS, or sooner once
LOCATION_FLUSH_MAX_PINGS are waiting, so the event loop never waits on the database.
A flush writes everything waiting as one batch: under load batches grow instead of
queueing more round trips (the writer thread shares the GIL with the event loop, and
each round trip costs it a GIL hand-over; measured in BENCHMARKS.md).
Crash window: pings accepted in the last flush interval (<= 250 ms by default) and not yet
written are lost if the process dies; a normal shutdown flushes them (atexit).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection

from couriers.locations import AcceptedPing

logger = logging.getLogger(__name__)

# Sockets pause reading while more than this many flushes' worth of pings wait.
BACKLOG_FLUSHES = 10

# One statement, so one round trip and one transaction (autocommit) per batch: a
# data-modifying CTE inserts every breadcrumb (multi-row INSERT ... SELECT unnest) and the
# UPDATE moves each courier's current point to their newest fix. The WHERE clause is the
# out-of-order guard: a point never moves back in time, whichever process writes last.
# Arrays (one per column) instead of VALUES rows keep the statement text constant, so
# psycopg prepares it once; the parameters go in binary (server-side binding).
_WRITE_SQL = """
WITH breadcrumbs AS (
    INSERT INTO couriers_locationping
        (courier_id, point, recorded_at, received_at, accuracy_m, heading, speed_mps, flag)
    SELECT p.courier_id, ST_SetSRID(ST_MakePoint(p.lng, p.lat), 4326)::geography,
        p.recorded_at, p.received_at, p.accuracy_m, p.heading, p.speed_mps, p.flag
    FROM unnest(
        %s::bigint[], %s::float8[], %s::float8[], %s::timestamptz[], %s::timestamptz[],
        %s::float8[], %s::float8[], %s::float8[], %s::text[]
    ) AS p(courier_id, lng, lat, recorded_at, received_at, accuracy_m, heading, speed_mps, flag)
)
UPDATE couriers_courier AS c
SET current_point = ST_SetSRID(ST_MakePoint(v.lng, v.lat), 4326)::geography,
    position_recorded_at = v.recorded_at,
    position_accuracy_m = v.accuracy_m,
    is_position_trusted = v.trusted,
    last_seen_at = GREATEST(c.last_seen_at, v.received_at)
FROM unnest(
    %s::bigint[], %s::float8[], %s::float8[], %s::timestamptz[], %s::float8[], %s::bool[],
    %s::timestamptz[]
) AS v(id, lng, lat, recorded_at, accuracy_m, trusted, received_at)
WHERE c.id = v.id
  AND (c.position_recorded_at IS NULL OR c.position_recorded_at < v.recorded_at)
"""


def latest_per_courier(pings: Sequence[AcceptedPing]) -> list[AcceptedPing]:
    """The newest point-moving ping of each courier, ordered by courier pk."""
    latest: dict[int, AcceptedPing] = {}
    for ping in pings:
        if not ping.moves_current_point:
            continue
        seen = latest.get(ping.courier_pk)
        if seen is None or ping.fix.recorded_at > seen.fix.recorded_at:
            latest[ping.courier_pk] = ping
    return [latest[pk] for pk in sorted(latest)]


def _write_params(pings: Sequence[AcceptedPing]) -> list[list[Any]]:
    fixes = [p.fix for p in pings]
    current = latest_per_courier(pings)
    return [
        [p.courier_pk for p in pings],
        [f.lng for f in fixes],
        [f.lat for f in fixes],
        [f.recorded_at for f in fixes],
        [p.received_at for p in pings],
        [f.accuracy_m for f in fixes],
        [f.heading for f in fixes],
        [f.speed_mps for f in fixes],
        [p.flag for p in pings],
        [p.courier_pk for p in current],
        [p.fix.lng for p in current],
        [p.fix.lat for p in current],
        [p.fix.recorded_at for p in current],
        [p.fix.accuracy_m for p in current],
        [p.is_trusted for p in current],
        [p.received_at for p in current],
    ]


def pings_write(pings: Sequence[AcceptedPing]) -> None:
    """Store a batch: breadcrumbs and couriers' current points, in one statement."""
    if not pings:
        return
    connection.ensure_connection()
    # A server-side-binding cursor (Django's default is client-side) sends the arrays in
    # binary and lets psycopg prepare the statement; wrapped so Django still logs it.
    raw = psycopg.Cursor(connection.connection)
    if connection.queries_logged:
        wrapped = connection.make_debug_cursor(raw)
    else:
        wrapped = connection.make_cursor(raw)
    with wrapped as cursor:
        cursor.execute(_WRITE_SQL, _write_params(pings))


class PingBuffer:
    """Pings waiting to be written, and the thread that writes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[AcceptedPing] = []
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()  # one flush at a time keeps batches in order
        self.flushes = 0  # batches written since start, for tests and benchmarks
        self._gates: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()

    def add(self, pings: Sequence[AcceptedPing]) -> None:
        """Queue pings; never blocks on the database (safe on the event loop)."""
        with self._lock:
            self._pending.extend(pings)
            is_full = len(self._pending) >= settings.LOCATION_FLUSH_MAX_PINGS
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._thread = threading.Thread(
                    target=self._run, name="location-writer", daemon=True
                )
                self._thread.start()
        if is_full:
            self._wake.set()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def is_backed_up(self) -> bool:
        """More waiting than BACKLOG_FLUSHES flushes' worth: the writer is falling behind."""
        return len(self._pending) > settings.LOCATION_FLUSH_MAX_PINGS * BACKLOG_FLUSHES

    async def wait_for_writer(self) -> None:
        """Sleep (without blocking the loop) until the backlog is back under the mark.

        Sockets await this after queueing, so a server that accepts pings faster than it
        can store them stops reading frames (TCP pushes back on the apps) instead of
        growing the buffer and the latency without bound; it also hands the GIL to the
        writer thread. One waiter per event loop polls; the others queue on a lock, so
        thousands of backed-up sockets cost one timer, not thousands.
        """
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Lock()
        async with gate:
            while self.is_backed_up() and self._thread is not None and self._thread.is_alive():
                self._wake.set()
                await asyncio.sleep(0.01)

    def flush(self) -> int:
        """Write everything queued now as one batch; return the count.

        Runs in the calling thread (the writer thread, a test, or shutdown).
        """
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            self._write(batch)
            return len(batch)

    def stop(self) -> None:
        """Flush, stop the writer thread and close its database connection."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._stopping = True
            self._wake.set()
            thread.join(timeout=10)
        self._thread = None
        self.flush()

    def _write(self, batch: list[AcceptedPing]) -> None:
        if not batch:
            return
        for attempt in (1, 2):
            try:
                pings_write(batch)
                self.flushes += 1
                return
            except DatabaseError as exc:
                # A dropped connection or a deadlock with another writer: reconnect, retry once.
                logger.warning("writing %d pings failed (attempt %d): %s", len(batch), attempt, exc)
                connection.close()
        logger.error("dropped %d pings after two failed writes", len(batch))

    def _run(self) -> None:
        interval = settings.LOCATION_FLUSH_INTERVAL_MS / 1000
        try:
            while not self._stopping:
                self._wake.wait(interval)
                self._wake.clear()
                try:
                    self.flush()
                except Exception:  # the writer must survive anything one batch throws
                    logger.exception("location flush failed")
        finally:
            connection.close()


location_buffer = PingBuffer()
atexit.register(location_buffer.flush)
