"""django-q2 entry points for the jobs app's own services (dispatch and webhooks have theirs)."""

from __future__ import annotations

import logging

from jobs.posting import jobs_release_due

logger = logging.getLogger(__name__)


def release_scheduled_jobs_task() -> int:
    """Every minute: scheduled jobs whose release time has come go to dispatch; how many."""
    released = jobs_release_due()
    if released:
        logger.info("released %d scheduled job(s)", len(released))
    return len(released)
