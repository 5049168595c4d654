"""The real ASGI app with the batched writer swapped for one ORM save per ping (baseline).

Run by bench.ingest as ``uvicorn bench.orm_asgi:application``. Validation, the consumer
and everything else are unchanged; only ``couriers.consumers.location_buffer`` differs:
a writer thread that, for each ping, updates the courier with the out-of-order guard and
creates its LocationPing (two statements per ping, as a straightforward implementation
would), still off the event loop.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence

from marketplace.asgi import application  # sets Django up first

# isort: split
from django.contrib.gis.geos import Point
from django.db import models, transaction

import couriers.consumers
from couriers.locations import AcceptedPing
from couriers.models import Courier, LocationPing

__all__ = ["application"]


class PerPingOrmWriter:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[AcceptedPing] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="orm-writer", daemon=True).start()

    def add(self, pings: Sequence[AcceptedPing]) -> None:
        for ping in pings:
            self._queue.put(ping)

    def is_backed_up(self) -> bool:
        return False  # no pushback: the naive design queues without bound

    async def wait_for_writer(self) -> None:
        return

    def _run(self) -> None:
        while True:
            ping = self._queue.get()
            fix = ping.fix
            point = Point(fix.lng, fix.lat, srid=4326)
            with transaction.atomic():
                if ping.moves_current_point:
                    Courier.objects.filter(
                        models.Q(position_recorded_at__isnull=True)
                        | models.Q(position_recorded_at__lt=fix.recorded_at),
                        pk=ping.courier_pk,
                    ).update(
                        current_point=point,
                        position_recorded_at=fix.recorded_at,
                        position_accuracy_m=fix.accuracy_m,
                        is_position_trusted=ping.is_trusted,
                        last_seen_at=ping.received_at,
                    )
                LocationPing.objects.create(
                    courier_id=ping.courier_pk,
                    point=point,
                    recorded_at=fix.recorded_at,
                    received_at=ping.received_at,
                    accuracy_m=fix.accuracy_m,
                    heading=fix.heading,
                    speed_mps=fix.speed_mps,
                    flag=ping.flag,
                )


couriers.consumers.location_buffer = PerPingOrmWriter()
