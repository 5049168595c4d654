"""Batched position writes: two statements per batch, from a per-process buffer on a thread.

``pings_write`` stores a batch with one ``UPDATE couriers_courier ... FROM unnest(...)``
(the latest in-order fix per courier; the WHERE clause refuses to move a point back in
time, so concurrent writers from several processes cannot reorder it) and one ``COPY`` of
every ping into ``couriers_locationping``. ``unnest`` of one array per column is the
``FROM (VALUES ...)`` join with a constant statement text: 7 parameters instead of 7 per
row, and the plan is the same for every batch size.

``location_buffer`` (one per process) collects pings from the courier sockets and a
dedicated thread writes them every LOCATION_FLUSH_INTERVAL_MS, or sooner once
LOCATION_FLUSH_MAX_PINGS are waiting, so the event loop never waits on the database.
Crash window: pings accepted in the last flush interval (<= 250 ms by default) and not yet
written are lost if the process dies; a normal shutdown flushes them (atexit).
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Sequence

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from couriers.locations import AcceptedPing

logger = logging.getLogger(__name__)

_UPDATE_CURRENT_SQL = """
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

_COPY_PINGS_SQL = (
    "COPY couriers_locationping "
    "(courier_id, point, recorded_at, received_at, accuracy_m, heading, speed_mps, flag) "
    "FROM STDIN"
)


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


def pings_write(pings: Sequence[AcceptedPing]) -> None:
    """Store a batch: couriers' current points (one UPDATE) and breadcrumbs (one COPY)."""
    if not pings:
        return
    current = latest_per_courier(pings)
    with transaction.atomic(), connection.cursor() as cursor:
        if current:
            cursor.execute(
                _UPDATE_CURRENT_SQL,
                [
                    [p.courier_pk for p in current],
                    [p.fix.lng for p in current],
                    [p.fix.lat for p in current],
                    [p.fix.recorded_at for p in current],
                    [p.fix.accuracy_m for p in current],
                    [p.is_trusted for p in current],
                    [p.received_at for p in current],
                ],
            )
        with cursor.cursor.copy(_COPY_PINGS_SQL) as copy:
            for p in pings:
                fix = p.fix
                copy.write_row(
                    (
                        p.courier_pk,
                        f"SRID=4326;POINT({fix.lng!r} {fix.lat!r})",
                        fix.recorded_at,
                        p.received_at,
                        fix.accuracy_m,
                        fix.heading,
                        fix.speed_mps,
                        p.flag,
                    )
                )


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

    def flush(self) -> int:
        """Write everything queued now, in batches of LOCATION_FLUSH_MAX_PINGS; return the count.

        Runs in the calling thread (the writer thread, a test, or shutdown).
        """
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            size = settings.LOCATION_FLUSH_MAX_PINGS
            for start in range(0, len(batch), size):
                self._write(batch[start : start + size])
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
