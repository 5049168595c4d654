"""The compiled writes of ``marketplace.sqlcompose`` do what the ORM's own writes do."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from jobs.models import JobEvent, JobStatus
from marketplace.sqlcompose import insert_sql, mark_saved, update_sql
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def test_an_update_and_an_insert_in_one_statement_apply_auto_now_and_return_the_new_id() -> None:
    job = JobFactory()
    stale = timezone.now() - timedelta(days=1)
    type(job).objects.filter(pk=job.pk).update(updated_at=stale)
    job.status = JobStatus.CANCELLED
    event = JobEvent(
        job=job, seq=job.last_event_seq + 1, from_status="pending", to_status="cancelled"
    )

    update, update_params = update_sql(job, {"status", "updated_at"}, alias="default")
    insert, insert_params = insert_sql(JobEvent, [event], alias="default", returning=True)
    with connection.cursor() as cursor:
        cursor.execute(f"WITH saved AS ({update}) {insert}", (*update_params, *insert_params))
        (event.pk,) = cursor.fetchone()
    mark_saved([event], alias="default")

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert job.updated_at > stale  # auto_now applied, as save() would
    stored = JobEvent.objects.get(pk=event.pk)
    assert (stored.seq, stored.to_status) == (event.seq, "cancelled")
    assert stored.created_at == event.created_at  # auto_now_add set on the object too
    assert event._state.adding is False


def test_a_constraint_still_holds_inside_the_one_statement() -> None:
    job = JobFactory()
    duplicate = JobEvent(job=job, seq=1, from_status="", to_status=job.status)
    JobEvent.objects.filter(job=job).delete()
    JobEvent.objects.create(job=job, seq=1, from_status="", to_status=job.status)

    insert, params = insert_sql(JobEvent, [duplicate], alias="default", returning=True)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(insert, params)
    assert JobEvent.objects.filter(job=job, seq=1).count() == 1
