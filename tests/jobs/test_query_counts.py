"""Database round trips per post, dispatch pass and accept, after-commit work included.

Each count is the whole cost a caller pays: the statements inside the transaction and
those its on-commit callbacks run (socket frames, tracking, tasks). In a test the
service's outer ``atomic`` is a savepoint inside the test's transaction, so every count
includes that SAVEPOINT / RELEASE pair; in production it is BEGIN / COMMIT.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.lifecycle import job_record_creation
from jobs.tracking.publish import tracking_publish_now
from tests.factories import JobFactory
from tests.jobs.dispatch_helpers import pending_job

pytestmark = pytest.mark.django_db


def _statements(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"].split()[0] for q in queries.captured_queries]


def test_a_job_nobody_tracks_costs_no_tracking_reads(django_assert_num_queries: Any) -> None:
    job = pending_job()

    with django_assert_num_queries(0):
        tracking_publish_now(job_pk=job.pk, event_kind="status")


def test_recording_a_new_job_reads_nothing_after_commit(
    django_capture_on_commit_callbacks: Any,
) -> None:
    job = JobFactory()

    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        job_record_creation(job=job, actor=None)

    # Its sequence number and the first event; nothing after commit.
    assert _statements(queries) == ["UPDATE", "INSERT"]
    assert len(callbacks) == 3  # socket frames, tracking, the dispatch task (no webhook set)
