"""Hot queries compiled once per process: the ORM's own SQL, only the values bound per call."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import Model, QuerySet
from django.db.models.query import (
    FlatValuesListIterable,
    ModelIterable,
    ValuesListIterable,
    get_related_populators,
)
from django.db.models.sql.compiler import SQLCompiler

# Compiling a queryset costs a hot path more than PostgreSQL takes to run it: a dispatch
# pass or an accept spent about a third of its Python time in ``SQLCompiler.as_sql`` and
# ``pre_sql_setup``, building the same text every time. A ``CompiledQuery`` asks the
# compiler once, with sample values, and remembers where each value sits among the
# parameters; later calls put the caller's values there and run the text as it is.
# ``tests/marketplace/test_sqlcache.py`` and each user's test compare the text and the
# parameters with a fresh compile, so a model change cannot make them drift.

# Sample values for ``CompiledQuery``: unlike anything a query holds as a constant.
SAMPLE_UUID = UUID("5a3b1e00-0000-4000-8000-00000000c0de")
SAMPLE_OTHER_UUID = UUID("5a3b1e00-0000-4000-8000-00000000beef")
SAMPLE_INT = -7_000_000_001
SAMPLE_INTS = [-7_000_000_002, -7_000_000_003]
SAMPLE_DATETIME = datetime(2001, 2, 3, 4, 5, 6, 789, tzinfo=UTC)


class _Slots:
    """Where each caller's value sits among a compiled statement's parameters."""

    def __init__(self, params: Sequence[Any], sample: Mapping[str, Any]) -> None:
        # Each parameter is either the caller's value (by name) or a constant.
        self.slots: list[tuple[str | None, Any]] = []
        found: dict[str, int] = dict.fromkeys(sample, 0)
        for value in params:
            name = next((n for n, s in sample.items() if _same(value, s)), None)
            if name is not None:
                found[name] += 1
            self.slots.append((name, None if name is not None else value))
        missing = [name for name, count in found.items() if count == 0]
        if missing:
            raise ValueError(f"sample values not among the compiled parameters: {missing}")

    def params(self, values: Mapping[str, Any]) -> list[Any]:
        return [values[name] if name is not None else constant for name, constant in self.slots]


class CompiledStatement:
    """Any statement Django compiles (an UPDATE, a CTE of several), built once per alias.

    ``build(alias=..., **sample)`` returns ``(sql, params)``; the same rules for the
    sample values as ``CompiledQuery``.
    """

    def __init__(self, build: Callable[..., tuple[str, Sequence[Any]]], **sample: Any) -> None:
        self.build = build
        self.sample = sample
        self._compiled: dict[str, tuple[str, _Slots]] = {}
        self._lock = threading.Lock()

    def sql_with_params(self, *, alias: str, **values: Any) -> tuple[str, list[Any]]:
        """The statement and the parameters for ``values``."""
        compiled = self._compiled.get(alias)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(alias)
                if compiled is None:
                    sql, params = self.build(alias=alias, **self.sample)
                    compiled = self._compiled[alias] = (sql, _Slots(params, self.sample))
        sql, slots = compiled
        return sql, slots.params(values)


class _Compiled(_Slots):
    """One compile of a ``CompiledQuery`` for one database connection (alias)."""

    def __init__(self, queryset: QuerySet, sample: Mapping[str, Any], alias: str) -> None:
        compiler: SQLCompiler = queryset.query.get_compiler(alias)
        sql, params = compiler.as_sql()
        super().__init__(params, sample)
        self.sql = sql
        self.is_for_update = queryset.query.select_for_update
        fields = [s[0] for s in compiler.select[0 : compiler.col_count]]
        self.converters = list(compiler.get_converters(fields).items())
        self.iterable = queryset._iterable_class
        if self.iterable not in (ModelIterable, ValuesListIterable, FlatValuesListIterable):
            raise ValueError(
                f"a CompiledQuery yields instances or values_list rows, not {self.iterable}"
            )
        if self.iterable is ModelIterable:
            klass_info, select = compiler.klass_info, compiler.select
            self.model = klass_info["model"]
            first, last = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
            self.model_slice = slice(first, last)
            self.init_list = [f[0].target.attname for f in select[first:last]]
            self.populators = get_related_populators(klass_info, select, alias)

    def results(self, rows: list[Any], connection: Any) -> Iterator[Any]:
        """What iterating the queryset yields for the fetched ``rows``."""
        if self.converters:
            rows = _converted(rows, self.converters, connection)
        if self.iterable is ModelIterable:
            for row in rows:
                obj = self.model.from_db(connection.alias, self.init_list, row[self.model_slice])
                for populator in self.populators:
                    populator.populate(row, obj)
                yield obj
        elif self.iterable is FlatValuesListIterable:
            for row in rows:
                yield row[0]
        else:
            for row in rows:
                yield tuple(row)


def _same(value: Any, sample: Any) -> bool:
    try:
        return type(value) is type(sample) and value == sample
    except (TypeError, ValueError):
        return False


class CompiledQuery:
    """A queryset whose SQL is compiled once per process and database alias.

    ``build(**sample)`` must return the queryset; every value the caller will vary is a
    keyword, and ``sample`` gives each one a value that appears nowhere else among the
    compiled parameters (the compile finds each by type and equality). A call passes the
    same keywords, with values of the same types as the sample, already in the form the
    field stores (a ``UUID``, not a string). It yields what iterating the queryset would:
    model instances (``select_related`` parents included) or ``values_list`` rows,
    Django's converters applied. Querysets with ``prefetch_related``, annotations on
    instances or an ``__in`` of a list (its placeholder count varies) do not fit.
    """

    def __init__(self, build: Callable[..., QuerySet], **sample: Any) -> None:
        self.build = build
        self.sample = sample
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def compiled(self, alias: str) -> _Compiled:
        compiled = self._compiled.get(alias)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(alias)
                if compiled is None:
                    compiled = _Compiled(self.build(**self.sample), self.sample, alias)
                    self._compiled[alias] = compiled
        return compiled

    def sql_with_params(self, *, alias: str, **values: Any) -> tuple[str, list[Any]]:
        """The statement and parameters a call with ``values`` sends."""
        compiled = self.compiled(alias)
        return compiled.sql, compiled.params(values)

    def rows(self, *, alias: str | None = None, **values: Any) -> Iterator[Any]:
        """Run it with ``values`` and yield its results as the queryset would."""
        connection = transaction.get_connection(alias)
        compiled = self.compiled(connection.alias)
        _refuse_autocommit_lock(compiled, connection)
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, compiled.params(values))
            results = cursor.fetchall()
        yield from compiled.results(results, connection)

    def first(self, *, alias: str | None = None, **values: Any) -> Any:
        """The first result, or None."""
        return next(self.rows(alias=alias, **values), None)


def _refuse_autocommit_lock(compiled: _Compiled, connection: Any) -> None:
    if compiled.is_for_update and connection.get_autocommit():
        raise transaction.TransactionManagementError(
            "select_for_update cannot be used outside of a transaction."
        )


def rows_in_one_round_trip(
    *calls: tuple[CompiledQuery, Mapping[str, Any]], alias: str | None = None
) -> list[list[Any]]:
    """Run each ``(query, values)`` in order as one execute; each one's results as a list.

    The statements go to PostgreSQL as one text (``"<first>; <second>"``), which psycopg
    sends with the simple query protocol when it binds the parameters itself (Django's
    default; ``cursor.nextset()`` moves to the next statement's result). They stay separate
    statements: under READ COMMITTED each takes its own snapshot when it starts, so a read
    after a lock sees whatever the previous holder of the lock committed, as it would in a
    second execute. With ``server_side_binding`` (which allows one statement per execute)
    each query runs on its own.
    """
    connection = transaction.get_connection(alias)
    compiled = [(query.compiled(connection.alias), values) for query, values in calls]
    for each, _ in compiled:
        _refuse_autocommit_lock(each, connection)
    if connection.settings_dict["OPTIONS"].get("server_side_binding") is True:
        return [list(query.rows(alias=connection.alias, **values)) for query, values in calls]
    sql = "; ".join(each.sql for each, _ in compiled)
    params = [param for each, values in compiled for param in each.params(values)]
    fetched: list[list[Any]] = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for position, (each, _) in enumerate(compiled):
            if position and not cursor.nextset():
                raise RuntimeError(f"statement {position + 1} of {len(compiled)} sent no result")
            fetched.append(list(each.results(cursor.fetchall(), connection)))
    return fetched


def _converted(rows: list[Any], converters: list[tuple[int, Any]], connection: Any) -> list[list]:
    """``SQLCompiler.apply_converters``, with this thread's connection."""
    converted = []
    for row in rows:
        row = list(row)
        for position, (functions, expression) in converters:
            value = row[position]
            for function in functions:
                value = function(value, expression, connection)
            row[position] = value
        converted.append(row)
    return converted


class RowReader:
    """Instances of ``model`` from rows of its concrete columns, as the ORM builds them.

    For a hand-written statement that selects ``columns(table)`` (e.g. from a CTE's
    ``RETURNING``), so it needs no ``RawQuerySet`` to read its row. ``fields`` (names)
    reads only those columns; the instance defers the others, as ``only()`` would.
    """

    def __init__(self, model: type[Model], fields: Sequence[str] | None = None) -> None:
        self.model = model
        # In the model's order: Model.from_db places a partial row's values that way.
        wanted = None if fields is None else {model._meta.get_field(name) for name in fields}
        self.fields = [f for f in model._meta.concrete_fields if wanted is None or f in wanted]
        self.attnames = [f.attname for f in self.fields]
        self._converters: dict[str, list[tuple[int, list, Any]]] = {}

    def columns(self, table: str) -> str:
        """The select list: every concrete column of ``table`` (a table or CTE name)."""
        return ", ".join(f'{table}."{field.column}"' for field in self.fields)

    def build(self, row: Sequence[Any], *, alias: str) -> Model:
        """The instance from the first ``len(fields)`` values of ``row``."""
        from django.db import connections

        connection = connections[alias]
        converters = self._converters.get(alias)
        if converters is None:
            converters = []
            for position, field in enumerate(self.fields):
                column = field.get_col(self.model._meta.db_table)
                functions = [
                    *connection.ops.get_db_converters(column),
                    *column.get_db_converters(connection),
                ]
                if functions:
                    converters.append((position, functions, column))
            self._converters[alias] = converters
        values = list(row[: len(self.fields)])
        for position, functions, column in converters:
            for function in functions:
                values[position] = function(values[position], column, connection)
        return self.model.from_db(alias, self.attnames, values)
