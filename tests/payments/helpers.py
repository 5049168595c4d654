"""Helpers for the payments tests: post and walk jobs, run money commands, check the books."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import requests
from rest_framework.test import APIClient

from couriers.models import Courier
from jobs.lifecycle import job_transition
from jobs.models import Job, JobStatus
from payments.gateway import get_gateway
from payments.models import CommandState, JournalLine, MoneyCommand
from payments.outbox import command_run
from payments.payouts import courier_onboarding_link, payout_account_sync
from payments.reconcile import reconcile
from payments.standin import StandinServer
from tests.jobs.conftest import trip_body

S = JobStatus
WALK = {
    S.AT_PICKUP: [S.ASSIGNED, S.AT_PICKUP],
    S.DELIVERED: [S.ASSIGNED, S.AT_PICKUP, S.PICKED_UP, S.AT_DROPOFF, S.DELIVERED],
    S.RETURNED: [S.ASSIGNED, S.AT_PICKUP, S.PICKED_UP, S.FAILED, S.RETURNING, S.RETURNED],
}


def post_job(client: APIClient, **body: Any) -> Any:
    return client.post("/api/v1/jobs/", {**trip_body(), **body}, format="json")


def walk(job: Job | str, to: JobStatus, *, courier: Courier) -> Job:
    """Move a job along the usual path to ``to`` as the courier's app would."""
    pk = job.pk if isinstance(job, Job) else job
    for step in WALK[to]:
        job_transition(job=pk, to=step, actor=courier.user, courier=courier)
    return Job.objects.get(pk=pk)


def drain(limit: int = 50) -> int:
    """Run every due money command (and the ones they write) as the worker would."""
    ran = 0
    for _ in range(limit):
        due = list(
            MoneyCommand.objects.filter(state=CommandState.PENDING).values_list("pk", flat=True)
        )
        if not due:
            return ran
        for pk in due:
            command_run(pk=pk)
            ran += 1
    raise AssertionError("money commands kept coming")


def standin_objects(standin: StandinServer, kind: str) -> list[dict[str, Any]]:
    response = requests.get(f"{standin.base_url}/_standin/objects/{kind}", timeout=5)
    response.raise_for_status()
    return response.json()["data"]


def courier_with_payouts(courier: Courier, standin: StandinServer, *, enabled: bool = True) -> str:
    """Onboard the courier's connected account at the stand-in (payouts on or off)."""
    account, _ = courier_onboarding_link(courier=courier)
    if enabled:
        url = f"{standin.base_url}/_standin/accounts/{account.account_id}/onboard"
        requests.post(url, timeout=5).raise_for_status()
        payout_account_sync(result=get_gateway().account_retrieve(account_id=account.account_id))
    return account.account_id


def balances() -> dict[str, int]:
    """Every account's balance (one currency in these tests), zero balances left out."""
    totals: dict[str, int] = defaultdict(int)
    for code, amount in JournalLine.objects.values_list("account__code", "amount_minor"):
        totals[code] += amount
    return {code: total for code, total in totals.items() if total}


def every_entry_balances() -> bool:
    sums: dict[tuple[int, str], int] = defaultdict(int)
    for entry_id, currency, amount in JournalLine.objects.values_list(
        "entry_id", "currency", "amount_minor"
    ):
        sums[(entry_id, currency)] += amount
    return all(total == 0 for total in sums.values())


def differences() -> list[dict[str, Any]]:
    return reconcile().differences


def fee(amount: int) -> int:
    """The stand-in's Stripe fee: 1.5 % (rounded) + 25."""
    return (amount * 150 + 5000) // 10_000 + 25
