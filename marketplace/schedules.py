"""The periodic django-q2 tasks the platform needs, kept in the database by one command."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django_q.models import Schedule


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    func: str
    minutes: int
    description: str
    # The django-q2 cluster whose scheduler queues it (None: the main cluster).
    cluster: str | None = None


PERIODIC_TASKS: list[PeriodicTask] = []

# Jobs: scheduled jobs go to dispatch SCHEDULE_LEAD_TIME_SECONDS before pickup_after.
PERIODIC_TASKS += [
    PeriodicTask(
        name="jobs.release_scheduled",
        func="jobs.tasks.release_scheduled_jobs_task",
        minutes=1,
        description="Scheduled jobs whose release_at has come become pending (dispatch).",
    ),
]

# Couriers: silent couriers go offline; old breadcrumbs are deleted.
PERIODIC_TASKS += [
    PeriodicTask(
        name="couriers.mark_stale_offline",
        func="couriers.tasks.couriers_mark_stale_offline_task",
        minutes=1,
        description="Available couriers with no ping for COURIER_STALE_AFTER_SECONDS go offline.",
    ),
    PeriodicTask(
        name="couriers.location_ping_retention",
        func="couriers.tasks.location_pings_retention_task",
        minutes=60,
        description="Delete location breadcrumbs older than LOCATION_RETENTION_DAYS.",
    ),
]

# Disputes: past the courier's reply time to review; past the review SLA flagged.
PERIODIC_TASKS += [
    PeriodicTask(
        name="payments.disputes_sweep",
        func="payments.disputes.tasks.disputes_sweep_task",
        minutes=5,
        description="Disputes past DISPUTE_COURIER_REPLY_HOURS go to review; past "
        "DISPUTE_REVIEW_SLA_HOURS they are flagged.",
    ),
]

# Shop webhooks: retries with backoff, and giving up after the retry window.
PERIODIC_TASKS += [
    PeriodicTask(
        name="jobs.webhook_sweep",
        func="jobs.webhooks.webhook_sweep_task",
        minutes=1,
        description="Queue due webhook retries; give up those past WEBHOOK_RETRY_WINDOW_SECONDS.",
        cluster=settings.WEBHOOK_CLUSTER,
    ),
]

# Dispatch: overdue offers expire and their jobs move on; lost dispatch tasks are re-run.
PERIODIC_TASKS += [
    PeriodicTask(
        name="jobs.offer_sweep",
        func="jobs.dispatch.offers_sweep_task",
        minutes=1,
        description="Expire offers past their deadline and re-drive dispatch for their jobs.",
    ),
]


# Payments: money commands re-driven (retries, crashed workers, orphaned authorisations);
# a daily reconciliation report against Stripe.
PERIODIC_TASKS += [
    PeriodicTask(
        name="payments.sweep",
        func="payments.tasks.payments_sweep_task",
        minutes=1,
        description="Re-drive due and stuck money commands; cancel authorisations left by a crash.",
    ),
    PeriodicTask(
        name="payments.reconcile",
        func="payments.tasks.payments_reconcile_task",
        minutes=24 * 60,
        description="Compare the ledger with Stripe and store the report (admin shows the latest).",
    ),
]


@transaction.atomic
def schedules_sync() -> list[str]:
    """Create or update one ``Schedule`` per periodic task (by name); return their names.

    Safe to run on every start and from several nodes at once: rows are keyed by name and
    rewritten, never duplicated.
    """
    for task in PERIODIC_TASKS:
        Schedule.objects.update_or_create(
            name=task.name,
            defaults={
                "func": task.func,
                "schedule_type": Schedule.MINUTES,
                "minutes": task.minutes,
                "repeats": -1,
                "cluster": task.cluster,
            },
        )
    return [task.name for task in PERIODIC_TASKS]
