"""Database-level rules for couriers: the spatial index and the constraints."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection

from tests.factories import CourierFactory


@pytest.mark.django_db
def test_current_point_is_geography_with_a_gist_index() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT format_type(a.atttypid, a.atttypmod)
            FROM pg_attribute a
            WHERE a.attrelid = 'couriers_courier'::regclass AND a.attname = 'current_point'
            """
        )
        (column_type,) = cursor.fetchone()
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'couriers_courier'"
            " AND indexdef LIKE '%%current_point%%'"
        )
        index_definitions = [row[0] for row in cursor.fetchall()]

    assert column_type == "geography(Point,4326)"
    assert len(index_definitions) == 1
    assert "USING gist (current_point)" in index_definitions[0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rating", Decimal("5.01")),
        ("rating", Decimal("0.99")),
        ("vehicle", "rocket"),
        ("capacity", "huge"),
        ("status", "asleep"),
    ],
)
def test_database_refuses_values_outside_the_choices(field: str, value: object) -> None:
    courier = CourierFactory()
    setattr(courier, field, value)

    with pytest.raises(IntegrityError):
        courier.save(update_fields=[field])


@pytest.mark.django_db
def test_one_courier_profile_per_user() -> None:
    courier = CourierFactory()

    with pytest.raises(IntegrityError):
        CourierFactory(user=courier.user)
