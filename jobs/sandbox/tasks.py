"""django-q2 entry point of the built-in robo courier's automatic walk."""

from __future__ import annotations

from jobs.sandbox.services import robo_walk_step


def robo_step_task(job_pk: str) -> str:
    """One step of a sandbox job's ``auto`` walk; queues the next. The job's status after."""
    return robo_walk_step(job_pk=job_pk)
