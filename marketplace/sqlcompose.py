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
    fields (the auto primary key), in that order.
    """
    meta = model._meta
    if fields is None:
        fields = [
            f
            for f in meta.concrete_fields
            if not f.generated and not (f.primary_key and f.db_returning)
        ]
    query = InsertQuery(model)
    query.insert_values(list(fields), list(objs))
    compiler = query.get_compiler(alias)
    if returning:
        compiler.returning_fields = meta.db_returning_fields
    [(sql, params)] = compiler.as_sql()
    return sql, tuple(params)


def update_sql(obj: Model, field_names: Iterable[str], *, alias: str) -> Sql:
    """The UPDATE ``obj.save(update_fields=field_names)`` sends (``auto_now`` applied)."""
    meta = type(obj)._meta
    values = []
    for name in sorted(field_names):
        field = meta.get_field(name)
        values.append((field, None, field.pre_save(obj, False)))
    query = type(obj)._base_manager.filter(pk=obj.pk).query.chain(UpdateQuery)
    query.add_update_fields(values)
    sql, params = query.get_compiler(alias).as_sql()
    return sql, tuple(params)


def mark_saved(objs: Iterable[Model], *, alias: str) -> None:
    """Tell Django the rows of ``objs`` now exist, as ``save()`` would."""
    for obj in objs:
        obj._state.adding = False
        obj._state.db = alias
