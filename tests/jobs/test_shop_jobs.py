"""Reading jobs: a shop's own list (filters, pages, query count), detail, events; staff see all."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.lifecycle import job_transition
from jobs.models import Job, JobStatus
from jobs.tracking.tokens import job_tracking_token
from marketplace.models import User
from tests.factories import CourierFactory, JobFactory
from tests.jobs.conftest import trip_body

URL = "/api/v1/jobs/"


def jobs_of(user: User, count: int, **kwargs) -> list[Job]:
    return [JobFactory(shop=user.shop, **kwargs) for _ in range(count)]


def ids(response) -> list[str]:
    return [job["id"] for job in response.json()["results"]]


def test_a_shop_lists_only_its_own_jobs_newest_first(
    shop_client, shop_user, other_shop_user
) -> None:
    mine = jobs_of(shop_user, 3)
    jobs_of(other_shop_user, 2)

    response = shop_client.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert ids(response) == [str(job.pk) for job in reversed(mine)]
    first = body["results"][0]
    assert first["shop_id"] == shop_user.shop_id
    assert first["tracking_url"] == f"http://testserver/t/{job_tracking_token(mine[-1])}"
    # Secrets stay out of lists.
    assert "recipient_pin" not in first


def test_filter_by_one_or_several_statuses(shop_client, shop_user) -> None:
    pending = jobs_of(shop_user, 2)
    (unassigned,) = jobs_of(shop_user, 1, status=JobStatus.UNASSIGNED)
    (cancelled,) = jobs_of(shop_user, 1, status=JobStatus.CANCELLED)

    one = shop_client.get(URL, {"status": "pending"})
    repeated = shop_client.get(f"{URL}?status=unassigned&status=cancelled")
    commas = shop_client.get(URL, {"status": "unassigned,cancelled"})

    assert set(ids(one)) == {str(job.pk) for job in pending}
    assert set(ids(repeated)) == set(ids(commas)) == {str(unassigned.pk), str(cancelled.pk)}


def test_unknown_status_is_400(shop_client, shop_user) -> None:
    response = shop_client.get(URL, {"status": "pending,lost"})

    assert response.status_code == 400
    assert "lost" in response.json()["fields"]["status"][0]


def test_filter_by_creation_time(shop_client, shop_user) -> None:
    old, middle, new = jobs_of(shop_user, 3)
    now = timezone.now()
    for job, days in ((old, 10), (middle, 5), (new, 0)):
        Job.objects.filter(pk=job.pk).update(created_at=now - timedelta(days=days))

    response = shop_client.get(
        URL,
        {
            "created_after": (now - timedelta(days=6)).isoformat(),
            "created_before": (now - timedelta(days=1)).isoformat(),
        },
    )
    after_only = shop_client.get(URL, {"created_after": (now - timedelta(days=6)).isoformat()})

    assert ids(response) == [str(middle.pk)]
    assert ids(after_only) == [str(new.pk), str(middle.pk)]


def test_bad_date_filter_is_400(shop_client, shop_user) -> None:
    response = shop_client.get(URL, {"created_after": "last week"})

    assert response.status_code == 400
    assert "created_after" in response.json()["fields"]


def test_pages(shop_client, shop_user) -> None:
    jobs_of(shop_user, 5)

    first = shop_client.get(URL, {"page_size": 2})
    last = shop_client.get(URL, {"page_size": 2, "page": 3})

    assert (first.json()["count"], len(ids(first))) == (5, 2)
    assert first.json()["next"].endswith("page=2&page_size=2")
    assert (len(ids(last)), last.json()["next"]) == (1, None)


def test_list_query_count_does_not_grow_with_jobs(shop_client, shop_user) -> None:
    def queries_for_listing(expected: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = shop_client.get(URL)
        assert response.json()["count"] == expected
        return len(queries)

    jobs_of(shop_user, 2)
    with_two = queries_for_listing(2)
    courier = CourierFactory()
    jobs_of(shop_user, 8, status=JobStatus.CANCELLED)
    JobFactory(shop=shop_user.shop, status=JobStatus.ASSIGNED, courier=courier)
    with_eleven = queries_for_listing(11)

    # Token lookup (with user, shop, courier joined), count, page, the page's payments.
    assert with_eleven == with_two == 4


def test_staff_see_every_shops_jobs(staff_client, shop_user, other_shop_user) -> None:
    jobs_of(shop_user, 2)
    (theirs,) = jobs_of(other_shop_user, 1)

    listing = staff_client.get(URL)
    detail = staff_client.get(f"{URL}{theirs.pk}/")

    assert listing.json()["count"] == 3
    assert detail.status_code == 200
    assert detail.json()["id"] == str(theirs.pk)


def test_courier_token_is_403(courier_client, shop_user) -> None:
    (job,) = jobs_of(shop_user, 1)

    for url in (URL, f"{URL}{job.pk}/", f"{URL}{job.pk}/events/"):
        response = courier_client.get(url)
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied")


def test_detail_of_own_job_shows_its_secrets(shop_client, shop_user) -> None:
    (job,) = jobs_of(shop_user, 1, pin_required=True, recipient_pin="0427")

    response = shop_client.get(f"{URL}{job.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["status"], body["recipient_pin"]) == (str(job.pk), "pending", "0427")
    assert body["price"]["total_minor"] == 636
    assert body["pickup"]["lat"] == 52.5219


@pytest.mark.parametrize("suffix", ["", "events/"])
def test_another_shops_job_is_404(shop_client, other_shop_user, suffix) -> None:
    (theirs,) = jobs_of(other_shop_user, 1)

    response = shop_client.get(f"{URL}{theirs.pk}/{suffix}")

    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_unknown_job_is_404(shop_client) -> None:
    response = shop_client.get(f"{URL}00000000-0000-0000-0000-000000000000/")

    assert response.status_code == 404


def test_events_in_order(shop_client, shop_user) -> None:
    (job,) = jobs_of(shop_user, 1)
    courier = CourierFactory()
    job_transition(job=job, to=JobStatus.ASSIGNED, actor=courier.user, courier=courier)
    job_transition(job=job, to=JobStatus.PENDING, actor=None, reason="courier dropped it")

    response = shop_client.get(f"{URL}{job.pk}/events/")

    assert response.status_code == 200
    events = response.json()["results"]
    assert [(e["seq"], e["from_status"], e["to_status"]) for e in events] == [
        (1, "pending", "assigned"),
        (2, "assigned", "pending"),
    ]
    assert (events[0]["actor_role"], events[0]["courier_id"]) == ("courier", courier.pk)
    assert (events[1]["actor_role"], events[1]["reason"]) == ("system", "courier dropped it")


def test_a_posted_jobs_first_event_has_no_from_status(shop_client, zone) -> None:
    job_id = shop_client.post(URL, trip_body(), format="json").json()["id"]

    events = shop_client.get(f"{URL}{job_id}/events/").json()["results"]

    assert [(e["seq"], e["from_status"], e["to_status"]) for e in events] == [(1, None, "pending")]
