"""A worker SIGKILLed in the middle of a capture and of a transfer (after Stripe did it, before
we recorded it), then a fresh worker and the sweeper: exactly one capture, one transfer."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from jobs.lifecycle import job_transition
from jobs.models import JobStatus
from payments.models import JournalEntry, MoneyCommand
from payments.outbox import commands_sweep
from tests.conftest import client_for
from tests.factories import CourierFactory, ShopUserFactory
from tests.payments.helpers import (
    courier_with_payouts,
    differences,
    every_entry_balances,
    post_job,
    standin_objects,
)
from tests.workers import running_cluster, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
S = JobStatus
PATH_TO_DROPOFF = [S.ASSIGNED, S.AT_PICKUP, S.PICKED_UP, S.AT_DROPOFF]


def _descendants(pid: int) -> list[int]:
    """``pid``'s child processes, recursively (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill_cluster(process: Any) -> None:
    """SIGKILL the cluster and every process it started: nobody gets to clean up."""
    for pid in [process.pid, *_descendants(process.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    process.wait(timeout=10)


class Gate:
    """Holds the stand-in's answer to one kind of call after it has done the work."""

    def __init__(self, standin: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.path_suffix = ""
        original = standin.handle_api

        def handle_api(*, method: str, path: str, **kwargs: Any) -> Any:
            answer = original(method=method, path=path, **kwargs)
            if self.path_suffix and method == "POST" and path.endswith(self.path_suffix):
                self.path_suffix = ""
                self.entered.set()
                self.release.wait(30)
            return answer

        monkeypatch.setattr(standin, "handle_api", handle_api)

    def hold(self, suffix: str) -> None:
        self.entered.clear()
        self.release.clear()
        self.path_suffix = suffix


def _state(kind: str, job_id: str) -> str | None:
    return (
        MoneyCommand.objects.filter(job_id=job_id, kind=kind)
        .values_list("state", flat=True)
        .first()
    )


def test_sigkill_mid_capture_and_mid_transfer_moves_money_once(
    standin, zone, settings, monkeypatch
) -> None:
    gate = Gate(standin, monkeypatch)
    courier = CourierFactory()
    courier_with_payouts(courier, standin)
    job_id = post_job(client_for(ShopUserFactory())).json()["id"]
    # Stale at once: the sweeper may hand a running command to another worker right away.
    settings.PAYMENT_COMMAND_STALE_SECONDS = 0

    # Assigned before any worker runs: the dispatch task queued by the post then finds
    # nothing to do (dispatch would otherwise give up on a courier-less map).
    for step in PATH_TO_DROPOFF:
        job_transition(job=job_id, to=step, actor=None, courier=courier)

    gate.hold("/capture")
    with running_cluster() as first:
        job, _ = job_transition(job=job_id, to=JobStatus.DELIVERED, actor=courier.user)
        assert gate.entered.wait(30), "the worker never called capture"
        _kill_cluster(first)
    gate.release.set()
    assert _state("capture", job_id) == "running"
    assert (
        len([i for i in standin_objects(standin, "payment_intent") if i["status"] == "succeeded"])
        == 1
    )

    gate.hold("/v1/transfers")
    with running_cluster() as second:
        commands_sweep()
        assert wait_for(lambda: _state("capture", job_id) == "succeeded", 30)
        assert gate.entered.wait(30), "the worker never called transfer"
        _kill_cluster(second)
    gate.release.set()
    assert _state("transfer", job_id) == "running"

    with running_cluster():
        commands_sweep()
        assert wait_for(lambda: _state("transfer", job_id) == "succeeded", 30)

    captured = [i for i in standin_objects(standin, "payment_intent") if i["status"] == "succeeded"]
    assert len(captured) == 1
    assert captured[0]["amount_received"] == job.total_minor
    (transfer,) = standin_objects(standin, "transfer")
    assert transfer["amount"] == job.courier_payout_minor
    assert JournalEntry.objects.filter(kind="capture").count() == 1
    assert JournalEntry.objects.filter(kind="transfer").count() == 1
    assert every_entry_balances()
    assert differences() == []
