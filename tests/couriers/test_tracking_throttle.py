"""The tracking throttle holds across processes: one broadcast per job and interval in all.

Two real Python processes (as two ASGI nodes would be) broadcast positions for one job
at the same moment through ``tracking_broadcast``; only the Redis claim can keep them to
one broadcast between them.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest

from tests.workers import ROOT, cluster_env

PROCESSES = 2
CALLS_EACH = 25

BROADCASTER = """
import sys, time
from datetime import datetime, timezone
import django
django.setup()
from couriers.locations import AcceptedPing, LocationFix
from couriers.services import tracking_broadcast

job_pk, start_at, calls = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
now = datetime.now(timezone.utc)
ping = AcceptedPing(courier_pk=1, fix=LocationFix(lat=52.52, lng=13.41, recorded_at=now),
                    received_at=now)
time.sleep(max(0.0, start_at - time.time()))
sent = 0
for _ in range(calls):
    sent += tracking_broadcast(job_pk=job_pk, pings=[ping])
    time.sleep(0.01)
print(sent)
"""


def broadcast_from_processes(job_pk: str) -> list[int]:
    env = cluster_env(TRACKING_BROADCAST_INTERVAL_SECONDS="60")
    start_at = time.time() + 3  # both are up and waiting by then
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", BROADCASTER, job_pk, str(start_at), str(CALLS_EACH)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    counts = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        counts.append(int(out.strip()))
    return counts


@pytest.mark.django_db
def test_two_processes_broadcast_a_job_once_per_interval_between_them() -> None:
    job_pk = str(uuid.uuid4())

    counts = broadcast_from_processes(job_pk)

    assert sum(counts) == 1, counts
    assert sorted(counts) == [0, 1]


@pytest.mark.django_db
def test_the_throttle_is_per_job() -> None:
    first, second = (
        broadcast_from_processes(str(uuid.uuid4())),
        broadcast_from_processes(str(uuid.uuid4())),
    )

    assert (sum(first), sum(second)) == (1, 1)
