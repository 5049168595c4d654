"""``simulate`` against the real server, worker cluster and Stripe stand-in: a short, fast run.

The command runs as a user runs it (its own process, talking to the server over HTTP and
sockets only); the test then reads the database to check what the run did.
"""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from couriers.models import Courier, LocationPing
from jobs.models import Job, JobStatus
from payments.models import JobPayment, Transfer
from payments.standin import StandinServer
from tests.e2e_server import PROJECT_ROOT, running_server
from tests.workers import cluster_env, running_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

JOBS = 6
ZERO_INTEGRITY = {
    "jobs_not_ended": 0,
    "jobs_with_two_accepted_offers": 0,
    "jobs_whose_courier_is_not_the_accepted_one": 0,
    "couriers_with_two_active_jobs": 0,
    "delivered_not_captured": 0,
    "delivered_not_transferred": 0,
    "unbalanced_ledger_entries": 0,
    "reconciliation_differences": 0,
}


def test_a_short_accelerated_run_ends_every_job_with_every_integrity_count_zero(
    standin: StandinServer, tmp_path: Path
) -> None:
    call_command("seed_demo_city", couriers=8, shops=2, seed=5, stdout=StringIO())
    summary_path = tmp_path / "summary.json"
    with (
        running_server(
            database=settings.DATABASES["default"], max_body_bytes=settings.MAX_REQUEST_BODY_BYTES
        ) as server,
        running_cluster(),
    ):
        standin.add_endpoint(
            f"{server.http_url}/api/v1/payments/stripe/webhook/",
            settings.STRIPE_WEBHOOK_SECRET,
            connect=False,
        )
        standin.add_endpoint(
            f"{server.http_url}/api/v1/payments/stripe/connect-webhook/",
            settings.STRIPE_CONNECT_WEBHOOK_SECRET,
            connect=True,
        )
        run = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "simulate",
                "--base-url",
                server.http_url,
                "--couriers",
                "8",
                "--jobs",
                str(JOBS),
                "--jobs-per-minute",
                "60",
                "--speed",
                "20",
                "--fail-probability",
                "0.4",
                "--max-trip-m",
                "1000",
                "--duration",
                "60",
                "--drain",
                "180",
                "--seed",
                "3",
                "--progress-interval",
                "5",
                "--summary-json",
                str(summary_path),
            ],
            cwd=PROJECT_ROOT,
            env=cluster_env(),
            capture_output=True,
            text=True,
            timeout=420,
        )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    summary = json.loads(summary_path.read_text())
    output = run.stdout[-3000:] + run.stderr[-3000:]
    assert summary["integrity"] == ZERO_INTEGRITY, output
    assert summary["posted"] == JOBS, output
    # Each job ends as the world decided: delivered, or back at the shop when the
    # recipient was out.
    outcomes = {o["job_id"]: o for o in summary["outcomes"]}
    jobs = {str(job.pk): job for job in Job.objects.select_related("shop", "courier")}
    assert sorted(jobs) == sorted(outcomes)
    for job_id, job in jobs.items():
        assert job.status == outcomes[job_id]["status"], output
        absent = outcomes[job_id]["recipient_absent"]
        assert job.status == (JobStatus.RETURNED if absent else JobStatus.DELIVERED), output
        assert (job.shop.is_sandbox, job.courier.is_robo) == (True, True)
    delivered = [job for job in jobs.values() if job.status == JobStatus.DELIVERED]
    assert summary["jobs"]["delivered"] == len(delivered) == JOBS - summary["recipients_absent"]
    assert summary["jobs"]["returned"] == summary["recipients_absent"]
    assert summary["offers"]["accepted"] >= len(delivered)
    assert summary["tracking"]["sockets"] >= JOBS
    for job in delivered:
        payment = JobPayment.objects.get(job_id=job.pk)
        assert (payment.status, payment.captured_minor) == (
            "captured",
            job.total_minor + job.tip_minor,
        )
        transfer = Transfer.objects.get(job=job, kind="payout")
        assert (transfer.state, transfer.amount_minor) == (
            "paid",
            job.courier_payout_minor + job.tip_minor,
        )
        proof = job.proof
        assert proof.distance_to_dropoff_m is not None
        assert proof.is_outside_geofence is False
        if job.pin_required:
            assert proof.is_pin_verified is True
        if job.delivery_option == "leave_at_door":
            assert proof.photo is not None
            assert proof.photo.kind == "delivery"
    assert "Integrity (each must be 0):" in run.stdout
    # Every fix was plausible for its vehicle, and every courier signed off at the end.
    fixes = LocationPing.objects.count()
    assert fixes > JOBS * 4  # two rides a job at least, a fix a second
    # The speed cap keeps rides plausible; a courier task starved of CPU on a loaded
    # machine can still send two fixes late and close together, so allow a few in a
    # hundred (without the cap nearly every fix at --speed 20 is flagged).
    assert LocationPing.objects.exclude(flag="").count() <= fixes // 50
    assert list(Courier.objects.values_list("status", flat=True).distinct()) == ["offline"]
