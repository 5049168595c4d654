"""Queueing the robo courier's next step: a django-q2 task now, or a schedule for later."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from jobs.models import Job
from jobs.sandbox.specs import robo_spec_of

ROBO_STEP_TASK = "jobs.sandbox.tasks.robo_step_task"


def robo_walk_queue(*, job_pk: UUID | str, delay_s: int = 0) -> None:
    """Run the robo courier's next step now (a task) or after ``delay_s`` (a ``ONCE``
    schedule: a database row, so it survives worker restarts; django-q2's scheduler
    looks for due schedules about every 30 s)."""
    pk = str(job_pk)
    if delay_s <= 0:
        async_task(ROBO_STEP_TASK, pk, group="sandbox")
        return
    Schedule.objects.create(
        name=f"sandbox robo courier {pk}",
        func=ROBO_STEP_TASK,
        args=repr(pk),
        schedule_type=Schedule.ONCE,
        repeats=-1,
        next_run=timezone.now() + timedelta(seconds=delay_s),
    )


def robo_walk_queue_on_commit(*, job: Job) -> bool:
    """For dispatch: a pending sandbox job with an ``auto`` robo courier starts (or goes
    on with) its walk after commit instead of being offered to couriers. True when the
    job is the robo courier's (auto or manual): dispatch then offers it to nobody."""
    spec = robo_spec_of(job.test_specifications)
    if spec is None or not job.shop.is_sandbox:
        return False
    if spec.mode == "auto":
        pk = str(job.pk)
        transaction.on_commit(lambda: robo_walk_queue(job_pk=pk))
    return True
