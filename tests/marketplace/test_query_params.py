"""Query strings are strict: pages are whole numbers from 1, an empty filter is a 400."""

from __future__ import annotations

import pytest

from jobs.models import JobStatus
from tests.factories import JobFactory

JOBS = "/api/v1/jobs/"
COURIER_JOBS = "/api/v1/courier/jobs/"
DELIVERIES = "/api/v1/shop/webhook/deliveries/"


@pytest.mark.django_db
@pytest.mark.parametrize("url", [JOBS, DELIVERIES])
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "last"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"page": ""}, "page"),
        ({"page": "9" * 10}, "page"),
        ({"page_size": "null"}, "page_size"),
        ({"page_size": ""}, "page_size"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "²"}, "page_size"),
    ],
)
def test_a_bad_page_or_page_size_is_400(shop_client, url: str, params: dict, field: str) -> None:
    response = shop_client.get(url, params)

    assert response.status_code == 400
    assert response.json() == {
        "code": "validation_error",
        "message": f"Invalid input. {field}: A whole number from 1 is required.",
        "fields": {field: ["A whole number from 1 is required."]},
    }


@pytest.mark.django_db
def test_a_bad_page_is_400_for_couriers_too(courier_client) -> None:
    response = courier_client.get(COURIER_JOBS, {"page_size": "null"})

    assert (response.status_code, response.json()["fields"]) == (
        400,
        {"page_size": ["A whole number from 1 is required."]},
    )


@pytest.mark.django_db
def test_a_page_size_over_the_maximum_is_served_as_the_maximum(shop_client, shop_user) -> None:
    for _ in range(3):
        JobFactory(shop=shop_user.shop)

    response = shop_client.get(JOBS, {"page_size": "500"})

    assert response.status_code == 200
    assert (response.json()["count"], len(response.json()["results"])) == (3, 3)


@pytest.mark.django_db
def test_a_page_past_the_last_is_404(shop_client, shop_user) -> None:
    JobFactory(shop=shop_user.shop)

    response = shop_client.get(JOBS, {"page": "2"})

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "field"),
    [
        (JOBS, "created_before"),
        (JOBS, "created_after"),
        (JOBS, "status"),
        (DELIVERIES, "status"),
    ],
)
def test_an_empty_filter_is_400_not_no_filter(shop_client, url: str, field: str) -> None:
    response = shop_client.get(url, {field: ""})

    assert response.status_code == 400
    assert response.json()["fields"] == {field: ["May not be empty."]}


@pytest.mark.django_db
def test_a_status_list_with_an_empty_entry_is_400(shop_client, shop_user) -> None:
    JobFactory(shop=shop_user.shop, status=JobStatus.PENDING)

    response = shop_client.get(JOBS, {"status": "pending,"})

    assert response.status_code == 400
    assert response.json()["fields"] == {"status": ["May not be empty."]}
