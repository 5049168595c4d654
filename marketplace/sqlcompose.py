"""The SQL Django would send for a model write, so several writes can share one statement.

A hot path that makes two or three writes in a row pays a round trip to PostgreSQL for
each. These helpers compile exactly what ``bulk_create`` / ``save(update_fields=...)``
would send (defaults, ``auto_now`` and ``auto_now_add`` applied, values prepared by the
fields), so a caller can join them as data-modifying CTEs of one statement:

    WITH a AS (<update>), b AS (<insert>) <insert ... RETURNING id>

Every part still sees the same constraints and triggers; only the round trips go.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connections
from django.db.models import Field, Model
from django.db.models.sql import InsertQuery, UpdateQuery

Sql = tuple[str, tuple]


def insert_sql(
    model: type[Model],
    objs: Sequence[Model],
    *,
    alias: str,
    fields: Sequence[Field] | None = None,
    returning: bool = False,
) -> Sql:
    """The INSERT of ``objs`` (all concrete fields but an auto primary key by default).

    With ``returning`` the statement ends ``RETURNING`` the model's database-returned
    fields (the auto primary key), in that order. The text of a one-row insert is compiled
    once per process for each shape (model, fields, placeholders); each call prepares only
    the values, with the fields' own ``pre_save`` and ``get_db_prep_save`` as the compiler
    does. A value that is an expression goes through the compiler every time.
    """
    meta = model._meta
    if fields is None:
        fields = _insert_fields(model)
    if len(objs) != 1:
        # PostgreSQL's bulk insert sends each column as one array (INSERT … SELECT * FROM
        # UNNEST(…)): a layout of its own, left to the compiler.
        return _insert_compiled(model, objs, alias, fields, returning)
    connection = connections[alias]
    params: list[Any] = []
    placeholders: list[str] = []
    for obj in objs:
        for field in fields:
            value = field.pre_save(obj, add=True)
            if hasattr(value, "resolve_expression"):
                return _insert_compiled(model, objs, alias, fields, returning)
            value = field.get_db_prep_save(value, connection=connection)
            placeholder = "%s"
            if hasattr(field, "get_placeholder"):
                if hasattr(value, "as_sql"):
                    return _insert_compiled(model, objs, alias, fields, returning)
                placeholder = field.get_placeholder(value, None, connection)
            placeholders.append(placeholder)
            params.append(value)
    key = (meta.label, alias, tuple(fields), returning, tuple(placeholders))
    cached = _INSERTS.get(key)
    if cached is None:
        sql, compiled_params = _insert_compiled(model, objs, alias, fields, returning)
        # The compile ran pre_save again: take its values, and keep its constant tail
        # (the RETURNING clause's parameters, if any).
        _INSERTS[key] = (sql, tuple(compiled_params[len(params) :]))
        return sql, compiled_params
    sql, tail = cached
    return sql, (*params, *tail)


def _insert_fields(model: type[Model]) -> list[Field]:
    return [
        f
        for f in model._meta.concrete_fields
        if not f.generated and not (f.primary_key and f.db_returning)
    ]


def _insert_compiled(
    model: type[Model], objs: Sequence[Model], alias: str, fields: Sequence[Field], returning: bool
) -> Sql:
    query = InsertQuery(model)
    query.insert_values(list(fields), list(objs))
    compiler = query.get_compiler(alias)
    if returning:
        compiler.returning_fields = model._meta.db_returning_fields
    [(sql, params)] = compiler.as_sql()
    return sql, tuple(params)


def update_sql(obj: Model, field_names: Iterable[str], *, alias: str) -> Sql:
    """The UPDATE ``obj.save(update_fields=field_names)`` sends (``auto_now`` applied).

    Compiled once per process for each shape (model, fields, which values are NULL,
    placeholders), as ``insert_sql``; a value that is an expression or a model instance
    goes through the compiler every time.
    """
    model = type(obj)
    meta = model._meta
    connection = connections[alias]
    names = sorted(field_names)
    values: list[tuple[Field, None, Any]] = []
    params: list[Any] = []
    shape: list[str | None] = []
    is_plain = True
    for name in names:
        field = meta.get_field(name)
        value = field.pre_save(obj, False)
        values.append((field, None, value))
        if not is_plain:
            continue
        if hasattr(value, "resolve_expression") or hasattr(value, "prepare_database_save"):
            is_plain = False
            continue
        value = field.get_db_prep_save(value, connection=connection)
        if hasattr(value, "as_sql"):
            is_plain = False
            continue
        placeholder = "%s"
        if hasattr(field, "get_placeholder"):
            placeholder = field.get_placeholder(value, None, connection)
        if value is None:
            shape.append(None)
        else:
            shape.append(placeholder)
            params.append(value)
    if is_plain:
        key = (meta.label, alias, tuple(names), tuple(shape))
        sql = _UPDATES.get(key)
        if sql is not None:
            pk = meta.pk
            return sql, (*params, pk.get_db_prep_value(pk.get_prep_value(obj.pk), connection))
    query = model._base_manager.filter(pk=obj.pk).query.chain(UpdateQuery)
    query.add_update_fields(values)
    sql, compiled_params = query.get_compiler(alias).as_sql()
    if is_plain:
        _UPDATES[key] = sql
    return sql, tuple(compiled_params)


# The texts insert_sql and update_sql compiled, by shape (only ever added to).
_INSERTS: dict[tuple, tuple[str, tuple]] = {}
_UPDATES: dict[tuple, str] = {}


def mark_saved(objs: Iterable[Model], *, alias: str) -> None:
    """Tell Django the rows of ``objs`` now exist, as ``save()`` would."""
    for obj in objs:
        obj._state.adding = False
        obj._state.db = alias
