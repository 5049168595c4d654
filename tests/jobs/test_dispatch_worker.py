"""Dispatch on a real django-q2 cluster: a worker killed mid-dispatch does not lose the job.

Each cluster is a real ``manage.py qcluster`` process on the test database. django-q2 runs
its scheduler every ~30 s of guard-loop time; these clusters use ``guard_cycle=30`` so the
first guard pass (right after start) runs the scheduler, which is what a restarted worker
does with the schedules that fell due while it was down.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import IO

import pytest
from django.db import close_old_connections
from django.utils import timezone
from django_q.models import Schedule

from jobs.dispatch.tasks import STUCK_AFTER
from jobs.models import Job, JobEvent, Offer, OfferStatus
from marketplace.schedules import schedules_sync
from tests.conftest import client_for
from tests.factories import JobFactory, OfferFactory
from tests.jobs.dispatch_helpers import courier_at, pending_job, point_at
from tests.workers import ROOT, cluster_env

pytestmark = pytest.mark.django_db(transaction=True)

CLUSTER_CODE = (
    "import django\n"
    "from django.conf import settings\n"
    "settings.Q_CLUSTER['guard_cycle'] = 30\n"
    "django.setup()\n"
    "from django.core.management import call_command\n"
    "call_command('qcluster')\n"
)


@pytest.fixture(autouse=True)
def _dispatch_settings(settings) -> None:
    settings.DISPATCH_MODE = "sequential"
    settings.DISPATCH_RADII_M = [3000, 6000, 12000]


def wait_for(predicate: Callable[[], object], timeout: float = 30) -> object:
    """Poll ``predicate`` (on a fresh view of the database) until it returns something."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        close_old_connections()
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout} s")


class Clusters:
    """Starts qclusters (each in its own process group) and kills them like a crash does."""

    def __init__(self, offer_ttl_seconds: int) -> None:
        self.env = cluster_env(
            OFFER_TTL_SECONDS=str(offer_ttl_seconds),
            DISPATCH_MODE="sequential",
            DISPATCH_RADII_M="3000,6000,12000",
        )
        self.processes: list[subprocess.Popen] = []
        self.logs: list[IO[bytes]] = []  # closed by stop_all

    def start(self) -> subprocess.Popen:
        log = open(os.environ.get("CLUSTER_LOG", os.devnull), "ab")  # noqa: SIM115
        self.logs.append(log)
        process = subprocess.Popen(
            [sys.executable, "-c", CLUSTER_CODE],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def crash(self, process: subprocess.Popen) -> None:
        """SIGKILL the whole cluster (sentinel, workers, pusher, monitor) at once."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                self.crash(process)  # nothing to finish: the tests are over
        for log in self.logs:
            log.close()


@pytest.fixture
def clusters(django_db_setup: None) -> Iterator[Clusters]:
    running = Clusters(offer_ttl_seconds=2)
    try:
        yield running
    finally:
        running.stop_all()


def follow_up_is_due(job: Job) -> bool:
    """The job's expiry follow-up (a ONCE schedule) exists and its time has come."""
    schedule = Schedule.objects.filter(name=f"dispatch follow-up {job.pk}").first()
    return schedule is not None and schedule.next_run <= timezone.now()


def pending_offer_to(courier_pk: int, job: Job) -> Offer | None:
    return Offer.objects.filter(job=job, courier_id=courier_pk, status=OfferStatus.PENDING).first()


def test_a_worker_killed_with_offers_outstanding_recovers_on_restart(clusters: Clusters) -> None:
    at_2km, at_5km = courier_at(2000), courier_at(5000)
    first = clusters.start()
    job = pending_job()  # on commit: the dispatch task goes to Redis, the cluster runs it

    offer = wait_for(lambda: pending_offer_to(at_2km.pk, job))
    assert offer.expires_at - offer.created_at <= timedelta(seconds=2)  # the cluster's TTL
    clusters.crash(first)  # the offer is open and nothing is running
    wait_for(lambda: follow_up_is_due(job))
    assert Offer.objects.get(pk=offer.pk).status == OfferStatus.PENDING  # nobody expired it

    second = clusters.start()

    next_offer = wait_for(lambda: pending_offer_to(at_5km.pk, job))
    assert Offer.objects.get(pk=offer.pk).status == OfferStatus.EXPIRED
    assert next_offer.dispatch_round == 1
    clusters.crash(second)
    wait_for(lambda: follow_up_is_due(job))

    clusters.start()

    wait_for(lambda: Job.objects.filter(pk=job.pk, status="unassigned").exists())
    assert Offer.objects.get(pk=next_offer.pk).status == OfferStatus.EXPIRED
    last = JobEvent.objects.filter(job=job).order_by("-seq").first()
    assert (last.from_status, last.to_status, last.actor_role) == (
        "pending",
        "unassigned",
        "system",
    )


def test_the_minute_sweeper_redrives_lost_tasks_and_overdue_offers(clusters: Clusters) -> None:
    courier = courier_at(1000)
    lost = JobFactory()  # pending, but its dispatch task never reached a worker
    Job.objects.filter(pk=lost.pk).update(updated_at=timezone.now() - STUCK_AFTER)
    # An overdue offer with no follow-up schedule (as if its worker died before commit),
    # for a job 20 km south, out of everyone else's reach.
    overdue = OfferFactory(
        courier=courier_at(9000),
        expires_at=timezone.now(),
        job__pickup_point=point_at(20_000, bearing_deg=180),
    )
    schedules_sync()  # the periodic sweeper, due now

    clusters.start()

    offer = wait_for(lambda: pending_offer_to(courier.pk, lost))
    assert offer.dispatch_round == 0
    wait_for(lambda: Offer.objects.filter(pk=overdue.pk, status=OfferStatus.EXPIRED).exists())
    # Its job went on: nobody else within reach is free, so it is unassigned.
    wait_for(lambda: Job.objects.filter(pk=overdue.job_id, status="unassigned").exists())


def test_a_decline_moves_the_job_to_the_next_courier_without_waiting(clusters: Clusters) -> None:
    first, second = courier_at(1000), courier_at(2000)
    clusters.env["OFFER_TTL_SECONDS"] = "300"
    clusters.start()
    job = pending_job()
    offer = wait_for(lambda: pending_offer_to(first.pk, job))

    response = client_for(first.user).post(f"/api/v1/courier/offers/{offer.pk}/decline/")

    assert response.status_code == 200
    next_offer = wait_for(lambda: pending_offer_to(second.pk, job))
    # Long before the first offer's deadline: the decline queued the pass.
    assert timezone.now() < offer.expires_at
    assert next_offer.dispatch_round == 0
