"""Amounts in minor units are 64-bit, and the zone fees staff type are bounded."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from jobs.models import Job, Quote, ServiceZone
from jobs.models.jobs import ZONE_FEE_MAX_MINOR
from tests.factories import JobFactory, ServiceZoneFactory
from tests.jobs.conftest import trip_body
from tests.jobs.test_zone_admin import SQUARE, add_zone

pytestmark = pytest.mark.django_db

PAST_32_BITS = 2**31 + 1


def test_a_quote_whose_price_passes_32_bits_is_priced_not_a_500(shop_client: APIClient) -> None:
    ServiceZoneFactory(name="Berlin", base_fee_minor=3_000_000_000, minimum_fee_minor=0)

    response = shop_client.post("/api/v1/quotes/", trip_body(), format="json")

    assert response.status_code == 201, response.content
    quote = Quote.objects.get()
    assert quote.base_minor == 3_000_000_000
    assert quote.total_minor > 2**31
    assert response.json()["price"]["total_minor"] == quote.total_minor


def test_job_amounts_past_32_bits_are_stored_exactly() -> None:
    job = JobFactory(
        total_minor=PAST_32_BITS * 2,
        courier_payout_minor=PAST_32_BITS,
        platform_fee_minor=PAST_32_BITS - 2,
        tip_minor=PAST_32_BITS,
        package_value_minor=PAST_32_BITS,
    )

    stored = Job.objects.get(pk=job.pk)
    assert (stored.total_minor, stored.courier_payout_minor, stored.tip_minor) == (
        4_294_967_298,
        2_147_483_649,
        2_147_483_649,
    )


@pytest.mark.parametrize(
    "field", ["base_fee_minor", "per_km_minor", "minimum_fee_minor", "cancellation_fee_minor"]
)
def test_staff_cannot_type_a_zone_fee_above_the_bound(admin_client, field: str) -> None:
    area = json.dumps({"type": "Polygon", "coordinates": [SQUARE]})

    response = add_zone(admin_client, area, **{field: str(ZONE_FEE_MAX_MINOR + 1)})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == [
        f"Ensure this value is less than or equal to {ZONE_FEE_MAX_MINOR}."
    ]
    assert ServiceZone.objects.count() == 0


def test_a_zone_fee_at_the_bound_is_saved(admin_client) -> None:
    area = json.dumps({"type": "Polygon", "coordinates": [SQUARE]})

    response = add_zone(admin_client, area, base_fee_minor=str(ZONE_FEE_MAX_MINOR))

    assert response.status_code == 302
    assert ServiceZone.objects.get().base_fee_minor == ZONE_FEE_MAX_MINOR
