"""Duplicate money attempts at the same moment (real threads, real database, the stand-in
over HTTP): one capture and one transfer each, and one ledger entry each."""

from __future__ import annotations

import pytest

from jobs.lifecycle import job_transition
from jobs.models import JobStatus
from marketplace.api.errors import InvalidTransition
from payments.models import JournalEntry, MoneyCommand, Transfer
from payments.outbox import command_run
from tests.concurrency import race
from tests.conftest import client_for
from tests.factories import CourierFactory, ShopUserFactory
from tests.payments.helpers import (
    courier_with_payouts,
    differences,
    every_entry_balances,
    post_job,
    standin_objects,
    walk,
)

pytestmark = pytest.mark.django_db(transaction=True)
S = JobStatus
RACERS = 6


def _captured(standin) -> list[dict]:
    return [i for i in standin_objects(standin, "payment_intent") if i["status"] == "succeeded"]


def test_racing_deliveries_write_one_capture_command(standin, zone) -> None:
    courier = CourierFactory()
    job_id = post_job(client_for(ShopUserFactory())).json()["id"]
    walk(job_id, S.AT_PICKUP, courier=courier)
    job_transition(job=job_id, to=S.PICKED_UP, actor=None)
    job_transition(job=job_id, to=S.AT_DROPOFF, actor=None)

    results = race(*[lambda: job_transition(job=job_id, to=S.DELIVERED, actor=None)] * RACERS)

    assert sum(isinstance(result, InvalidTransition) for result in results) == RACERS - 1
    assert MoneyCommand.objects.filter(job_id=job_id, kind="capture").count() == 1


def test_racing_runs_of_capture_and_transfer_move_money_once(standin, zone) -> None:
    courier = CourierFactory()
    courier_with_payouts(courier, standin)
    job_id = post_job(client_for(ShopUserFactory())).json()["id"]
    job = walk(job_id, S.DELIVERED, courier=courier)
    capture = MoneyCommand.objects.get(job_id=job_id, kind="capture")

    results = race(*[lambda: command_run(pk=capture.pk)] * RACERS)

    assert sorted(map(str, results)) == ["None"] * (RACERS - 1) + ["succeeded"]
    transfer_command = MoneyCommand.objects.get(job_id=job_id, kind="transfer")
    results = race(*[lambda: command_run(pk=transfer_command.pk)] * RACERS)
    assert sorted(map(str, results)) == ["None"] * (RACERS - 1) + ["succeeded"]

    assert len(_captured(standin)) == 1
    (transfer,) = standin_objects(standin, "transfer")
    assert transfer["amount"] == job.courier_payout_minor
    assert JournalEntry.objects.filter(kind="capture").count() == 1
    assert JournalEntry.objects.filter(kind="transfer").count() == 1
    assert every_entry_balances()
    assert differences() == []


def test_a_command_re_driven_after_it_succeeded_moves_nothing_twice(standin, zone) -> None:
    """What a sweeper does to a row whose worker died after Stripe answered: run it again
    with the same key. Stripe replays its answer; the ledger keeps its one entry."""
    courier = CourierFactory()
    courier_with_payouts(courier, standin)
    job_id = post_job(client_for(ShopUserFactory())).json()["id"]
    walk(job_id, S.DELIVERED, courier=courier)
    capture = MoneyCommand.objects.get(job_id=job_id, kind="capture")
    assert command_run(pk=capture.pk) == "succeeded"
    transfer_command = MoneyCommand.objects.get(job_id=job_id, kind="transfer")
    assert command_run(pk=transfer_command.pk) == "succeeded"

    MoneyCommand.objects.filter(job_id=job_id).update(state="pending")
    Transfer.objects.filter(job_id=job_id).update(state="pending")
    results = race(
        *[lambda: command_run(pk=capture.pk)] * 3,
        *[lambda: command_run(pk=transfer_command.pk)] * 3,
    )

    assert sorted(map(str, results)) == ["None"] * 4 + ["succeeded"] * 2
    assert len(_captured(standin)) == 1
    assert len(standin_objects(standin, "transfer")) == 1
    assert JournalEntry.objects.filter(kind__in=["capture", "transfer"]).count() == 2
    assert differences() == []
