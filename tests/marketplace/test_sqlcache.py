"""Statements compiled once per process send what the ORM would, and read what it would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.db.models.sql import UpdateQuery
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import Schedule
from psycopg.types.json import Jsonb

from jobs.dispatch import dispatch_job
from jobs.dispatch.offers import ACCEPT_JOB_LOCK, OFFER_CLAIM, _offer_claim_sql
from jobs.dispatch.rounds import PASS_ENGAGED, PASS_JOB_LOCK, PASS_OFFER_HISTORY
from jobs.models import Job, JobEvent, Offer
from marketplace.sqlcache import SAMPLE_UUID, CompiledQuery, RowReader, rows_in_one_round_trip
from marketplace.sqlcompose import _insert_compiled, insert_sql, update_sql
from tests.factories import JobFactory
from tests.jobs.dispatch_helpers import courier_at, pending_job

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=UTC)


def _orm(query: CompiledQuery, **values: Any) -> tuple[str, list[Any]]:
    sql, params = query.build(**values).query.get_compiler("default").as_sql()
    return sql, list(params)


@pytest.mark.parametrize(
    ("query", "values"),
    [
        (PASS_JOB_LOCK, {"job_pk": uuid4()}),
        (PASS_OFFER_HISTORY, {"job_pk": uuid4()}),
        (PASS_ENGAGED, {"courier_pks": [3, 1, 2], "now": NOW}),
        (ACCEPT_JOB_LOCK, {"offer_pk": uuid4(), "courier_pk": 42}),
    ],
    ids=["pass job lock", "pass offer history", "pass engaged check", "accept job lock"],
)
def test_a_compiled_query_sends_the_orm_s_sql_with_the_caller_s_values(
    query: CompiledQuery, values: dict[str, Any]
) -> None:
    assert query.sql_with_params(alias="default", **values) == _orm(query, **values)


def test_the_accept_s_claim_sends_the_statement_it_compiles() -> None:
    values = {"offer_pk": uuid4(), "courier_pk": 7, "job_pk": uuid4(), "now": NOW}

    sql, params = OFFER_CLAIM.sql_with_params(alias="default", **values)

    assert (sql, params) == _offer_claim_sql(alias="default", **values)
    assert params.count(values["offer_pk"]) == 2
    assert params.count(NOW) == 2


def test_the_pass_job_lock_reads_its_columns_and_the_shop_and_zone_in_one_statement() -> None:
    job = pending_job()

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locked = PASS_JOB_LOCK.first(job_pk=job.pk)
        shown = (
            locked.status,
            locked.pickup_point.coords,
            locked.dropoff_point.coords,
            locked.tip_minor,
            locked.shop.is_sandbox,
            locked.shop.webhook_url,
            locked.zone.dispatch_mode,
        )

    assert len(queries) == 1
    assert "FOR UPDATE OF" in queries[0]["sql"]
    assert shown == (
        job.status,
        job.pickup_point.coords,
        job.dropoff_point.coords,
        job.tip_minor,
        job.shop.is_sandbox,
        job.shop.webhook_url,
        job.zone.dispatch_mode,
    )
    assert locked.get_deferred_fields() >= {"pickup_instructions", "package_description"}
    with transaction.atomic():
        assert PASS_JOB_LOCK.first(job_pk=uuid4()) is None


@pytest.mark.django_db(transaction=True)
def test_a_locking_compiled_query_refuses_to_run_outside_a_transaction() -> None:
    job = pending_job()
    assert connection.get_autocommit()

    with pytest.raises(transaction.TransactionManagementError):
        PASS_JOB_LOCK.first(job_pk=job.pk)


def test_values_rows_are_converted_as_the_orm_converts_them() -> None:
    courier = courier_at(500)
    job = pending_job()
    dispatch_job(job_pk=job.pk)

    rows = list(PASS_OFFER_HISTORY.rows(job_pk=job.pk))

    expected = list(
        Offer.objects.filter(job=job).values_list(
            "courier_id",
            "status",
            "dispatch_round",
            "dispatch_attempt",
            "expires_at",
            "responded_at",
        )
    )
    assert rows == expected
    assert rows[0][0] == courier.pk
    engaged = list(PASS_ENGAGED.rows(courier_pks=[courier.pk, -1], now=timezone.now()))
    assert engaged == [courier.pk]


def _lock_and_history(job_pk: Any) -> list[tuple[Any, dict[str, Any]]]:
    return [(PASS_JOB_LOCK, {"job_pk": job_pk}), (PASS_OFFER_HISTORY, {"job_pk": job_pk})]


def test_two_compiled_queries_in_one_round_trip_read_what_each_reads_alone() -> None:
    courier = courier_at(500)
    job = pending_job()
    dispatch_job(job_pk=job.pk)

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locked, history = rows_in_one_round_trip(*_lock_and_history(job.pk))
    with transaction.atomic():
        alone = (
            list(PASS_JOB_LOCK.rows(job_pk=job.pk)),
            list(PASS_OFFER_HISTORY.rows(job_pk=job.pk)),
        )

    assert len(queries) == 1
    lock_sql, history_sql = queries[0]["sql"].split("; ")
    assert "FOR UPDATE OF" in lock_sql
    assert 'FROM "jobs_offer"' in history_sql
    assert [[j.pk for j in locked], history] == [[j.pk for j in alone[0]], alone[1]]
    assert (locked[0].pickup_point.coords, locked[0].shop.is_sandbox) == (
        job.pickup_point.coords,
        job.shop.is_sandbox,
    )
    assert history[0][0] == courier.pk
    with transaction.atomic():
        assert rows_in_one_round_trip(*_lock_and_history(uuid4())) == [[], []]


def test_with_server_side_binding_each_query_runs_on_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    courier_at(500)
    job = pending_job()
    dispatch_job(job_pk=job.pk)
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "server_side_binding", True)

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locked, history = rows_in_one_round_trip(*_lock_and_history(job.pk))

    assert len(queries) == 2
    assert not any("; " in q["sql"] for q in queries.captured_queries)
    assert ([j.pk for j in locked], len(history)) == ([job.pk], 1)


@pytest.mark.django_db(transaction=True)
def test_a_lock_in_one_round_trip_refuses_to_run_outside_a_transaction() -> None:
    job = pending_job()

    with (
        CaptureQueriesContext(connection) as queries,
        pytest.raises(transaction.TransactionManagementError),
    ):
        rows_in_one_round_trip(*_lock_and_history(job.pk))
    assert len(queries) == 0


def test_a_sample_value_the_compile_cannot_find_is_refused() -> None:
    query = CompiledQuery(lambda job_pk: Job.objects.filter(status="pending"), job_pk=SAMPLE_UUID)

    with pytest.raises(ValueError, match="job_pk"):
        query.sql_with_params(alias="default", job_pk=uuid4())


def test_a_row_reader_builds_the_instance_the_orm_reads() -> None:
    courier_at(500)
    job = pending_job()
    dispatch_job(job_pk=job.pk)
    offer = Offer.objects.get(job=job)
    reader = RowReader(Offer)

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {reader.columns('o')} FROM jobs_offer o WHERE o.id = %s", [offer.pk]
        )
        built = reader.build(cursor.fetchone(), alias="default")

    names = [f.attname for f in Offer._meta.concrete_fields]
    assert [getattr(built, n) for n in names] == [getattr(offer, n) for n in names]
    assert built._state.adding is False


@pytest.fixture
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """auto_now and auto_now_add stamp the same instant at every compile."""
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    return NOW


def _fresh_insert(model: type, objs: list, *, returning: bool = False) -> tuple[str, tuple]:
    fields = [
        f
        for f in model._meta.concrete_fields
        if not f.generated and not (f.primary_key and f.db_returning)
    ]
    return _insert_compiled(model, objs, "default", fields, returning)


def _comparable(statement: tuple[str, tuple]) -> tuple[str, list[Any]]:
    """psycopg's Jsonb wrapper compares by identity: compare what it wraps."""
    sql, params = statement
    return sql, [("jsonb", p.obj) if isinstance(p, Jsonb) else p for p in params]


def test_cached_inserts_send_what_the_compiler_sends(fixed_now: datetime) -> None:
    job = JobFactory.build()
    event = JobEvent(job=job, seq=1, from_status="", to_status="pending")
    offers = [
        Offer(job=job, courier_id=n, distance_m=n, expires_at=fixed_now + timedelta(seconds=n))
        for n in (1, 2, 3)
    ]
    schedule = Schedule(name="follow-up", func="x.y", schedule_type=Schedule.ONCE, next_run=NOW)

    for model, objs, returning in (
        (Job, [job], False),
        (JobEvent, [event], True),
        (Offer, offers[:1], False),
        (Offer, offers, False),
        (Schedule, [schedule], False),
    ):
        first = insert_sql(model, objs, alias="default", returning=returning)
        second = insert_sql(model, objs, alias="default", returning=returning)  # from the cache
        expected = _comparable(_fresh_insert(model, objs, returning=returning))
        assert _comparable(first) == _comparable(second) == expected


def _fresh_update(job: Job, names: set[str]) -> tuple[str, tuple]:
    values = [
        (Job._meta.get_field(n), None, Job._meta.get_field(n).pre_save(job, False))
        for n in sorted(names)
    ]
    query = Job._base_manager.filter(pk=job.pk).query.chain(UpdateQuery)
    query.add_update_fields(values)
    sql, params = query.get_compiler("default").as_sql()
    return sql, tuple(params)


def test_cached_updates_send_what_the_compiler_sends(fixed_now: datetime) -> None:
    job = JobFactory()
    fields = {"status", "courier", "assigned_at", "last_event_seq", "updated_at"}
    job.assigned_at = None  # a NULL is part of the text (SET ... = NULL)
    with_null = [update_sql(job, fields, alias="default") for _ in range(2)]
    assert with_null[0] == with_null[1] == _fresh_update(job, fields)
    job.assigned_at = fixed_now
    with_value = [update_sql(job, fields, alias="default") for _ in range(2)]
    assert with_value[0] == with_value[1] == _fresh_update(job, fields)

    assert '"assigned_at" = NULL' in with_null[0][0]
    assert with_value[0][1][0] == fixed_now  # fields in name order: assigned_at first
    assert with_value[0][1][-1] == job.pk


def test_an_expression_value_is_compiled_every_time(fixed_now: datetime) -> None:
    job = JobFactory()
    job.last_event_seq = F("last_event_seq") + 1

    sql, params = update_sql(job, {"last_event_seq"}, alias="default")

    assert '"last_event_seq" = ("jobs_job"."last_event_seq" + %s)' in sql
    assert params == (1, job.pk)


def test_a_row_reader_of_some_fields_defers_the_others() -> None:
    courier = courier_at(500)
    reader = RowReader(type(courier), ("id", "vehicle", "acceptance_rate"))

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {reader.columns('c')} FROM couriers_courier c WHERE c.id = %s", [courier.pk]
        )
        built = reader.build(cursor.fetchone(), alias="default")

    assert (built.pk, built.vehicle, built.acceptance_rate) == (
        courier.pk,
        courier.vehicle,
        courier.acceptance_rate,
    )
    assert "current_point" in built.get_deferred_fields()
