"""REST: going online/offline, reporting locations; the stale-courier and retention tasks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.tasks import async_task, result
from rest_framework.test import APIClient

from couriers.models import Courier, CourierStatus, LocationPing
from couriers.services import couriers_mark_stale_offline, location_pings_delete_old
from jobs.models import JobStatus, Offer, OfferStatus
from marketplace.schedules import PERIODIC_TASKS
from tests.conftest import client_for
from tests.couriers.conftest import fix, online_courier
from tests.factories import CourierFactory, JobFactory, OfferFactory

pytestmark = pytest.mark.django_db

AVAILABILITY = "/api/v1/courier/availability/"
LOCATION = "/api/v1/courier/location/"


def test_going_online_makes_an_idle_courier_available(courier_client: APIClient, courier) -> None:
    response = courier_client.post(AVAILABILITY, {"online": True}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "available"
    courier.refresh_from_db()
    assert courier.status == CourierStatus.AVAILABLE
    assert courier.last_seen_at > timezone.now() - timedelta(seconds=5)


def test_going_online_with_an_active_job_keeps_the_courier_busy() -> None:
    courier = CourierFactory()
    JobFactory(courier=courier, status=JobStatus.PICKED_UP)

    response = client_for(courier.user).post(AVAILABILITY, {"online": True}, format="json")

    assert response.json()["status"] == "busy"


def test_going_offline_when_idle() -> None:
    courier = online_courier()

    response = client_for(courier.user).post(AVAILABILITY, {"online": False}, format="json")

    assert response.status_code == 200
    assert Courier.objects.get(pk=courier.pk).status == CourierStatus.OFFLINE


def test_going_offline_withdraws_open_offers_so_the_job_moves_on() -> None:
    courier = online_courier()
    offer = OfferFactory(courier=courier)
    other = OfferFactory(job=offer.job)

    response = client_for(courier.user).post(AVAILABILITY, {"online": False}, format="json")

    assert response.status_code == 200
    statuses = dict(Offer.objects.values_list("pk", "status"))
    assert statuses == {offer.pk: OfferStatus.WITHDRAWN, other.pk: OfferStatus.PENDING}


def test_going_offline_with_an_active_job_is_refused_and_nothing_changes() -> None:
    courier = online_courier(status=CourierStatus.BUSY)
    JobFactory(courier=courier, status=JobStatus.ASSIGNED)

    response = client_for(courier.user).post(AVAILABILITY, {"online": False}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "courier_has_active_job"
    assert Courier.objects.get(pk=courier.pk).status == CourierStatus.BUSY


@pytest.mark.parametrize("body", [{}, {"online": "true"}, {"online": 1}, {"online": None}])
def test_availability_needs_a_json_boolean(courier_client: APIClient, body: dict) -> None:
    response = courier_client.post(AVAILABILITY, body, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["online"]


def test_shops_cannot_use_courier_endpoints(shop_client: APIClient) -> None:
    assert shop_client.post(AVAILABILITY, {"online": True}, format="json").status_code == 403
    assert shop_client.post(LOCATION, fix(), format="json").status_code == 403
    assert LocationPing.objects.count() == 0


def test_one_location_is_stored_as_the_current_point_and_a_breadcrumb() -> None:
    courier = online_courier()

    response = client_for(courier.user).post(
        LOCATION, fix(52.53, 13.41, accuracy_m=6, heading=12, speed_mps=4), format="json"
    )

    assert response.status_code == 201, response.json()
    assert response.json() == {"stored": 1, "flags": {}, "rejected": {}}
    courier.refresh_from_db()
    assert (courier.current_point.y, courier.current_point.x) == (52.53, 13.41)
    assert courier.position_accuracy_m == 6
    assert courier.is_position_trusted is True
    ping = LocationPing.objects.get(courier=courier)
    assert (ping.heading, ping.speed_mps, ping.flag) == (12, 4, "")


def test_a_bad_location_is_400_naming_the_field_and_nothing_is_stored() -> None:
    courier = online_courier()

    response = client_for(courier.user).post(LOCATION, fix(lat=95), format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert list(response.json()["fields"]) == ["lat"]
    assert LocationPing.objects.count() == 0


def test_a_list_stores_the_good_items_and_names_the_bad_ones() -> None:
    courier = online_courier(position_recorded_at=timezone.now() - timedelta(seconds=60))
    items = [
        fix(ago=30),
        fix(lng="13.4"),
        fix(ago=20, accuracy_m=500),
        fix(ago=90),  # older than the courier's current point
        fix(at=timezone.now() + timedelta(hours=1)),
    ]

    response = client_for(courier.user).post(LOCATION, items, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["stored"] == 3
    assert body["flags"] == {"2": "inaccurate", "3": "out_of_order"}
    assert list(body["rejected"]) == ["1", "4"]
    assert list(body["rejected"]["1"]) == ["lng"]
    assert list(body["rejected"]["4"]) == ["recorded_at"]
    assert LocationPing.objects.filter(courier=courier).count() == 3
    courier.refresh_from_db()
    assert courier.is_position_trusted is False  # the newest fix was the inaccurate one


def test_a_list_with_no_good_item_is_400_keyed_by_index() -> None:
    courier = online_courier()

    response = client_for(courier.user).post(
        LOCATION, [fix(heading=400), {"lat": 1}], format="json"
    )

    assert response.status_code == 400
    fields = response.json()["fields"]
    assert list(fields) == ["0", "1"]
    assert list(fields["0"]) == ["heading"]
    assert sorted(fields["1"]) == ["lng", "recorded_at"]


@pytest.mark.parametrize("count", [0, 101])
def test_a_list_must_hold_1_to_100_items(count: int) -> None:
    courier = online_courier()

    response = client_for(courier.user).post(LOCATION, [fix()] * count, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["items"]
    assert LocationPing.objects.count() == 0


def test_an_offline_courier_is_refused_and_nothing_is_collected() -> None:
    courier = CourierFactory(status=CourierStatus.OFFLINE)

    response = client_for(courier.user).post(LOCATION, fix(), format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "courier_offline"
    assert LocationPing.objects.count() == 0
    courier.refresh_from_db()
    assert courier.current_point is None


def test_an_implausible_jump_is_judged_against_the_last_good_breadcrumb() -> None:
    courier = online_courier(vehicle="bike", position_recorded_at=None)
    client = client_for(courier.user)
    client.post(LOCATION, fix(52.52, 13.405, ago=20), format="json")

    # ~11 km in 10 s is not a bike.
    response = client.post(LOCATION, fix(52.62, 13.405, ago=10), format="json")

    assert response.json()["flags"] == {"0": "implausible_speed"}
    courier.refresh_from_db()
    assert courier.is_position_trusted is False
    assert LocationPing.objects.filter(flag="implausible_speed").count() == 1


def test_the_query_count_does_not_grow_with_the_list() -> None:
    courier = online_courier(position_recorded_at=timezone.now() - timedelta(seconds=200))
    client = client_for(courier.user)
    counts = []
    for size, newest_ago in ((1, 150), (50, 50)):
        items = [fix(ago=newest_ago + i) for i in range(size)]
        with CaptureQueriesContext(connection) as queries:
            assert client.post(LOCATION, items, format="json").status_code == 201
        counts.append(len(queries))

    assert counts[0] == counts[1]
    assert LocationPing.objects.count() == 51


def test_stale_available_couriers_go_offline_in_one_update() -> None:
    now = timezone.now()
    stale = online_courier(last_seen_at=now - timedelta(seconds=121))
    never_seen = online_courier(last_seen_at=None)
    fresh = online_courier(last_seen_at=now - timedelta(seconds=119))
    busy_stale = online_courier(status=CourierStatus.BUSY, last_seen_at=now - timedelta(hours=1))

    with CaptureQueriesContext(connection) as queries:
        pks = couriers_mark_stale_offline(now=now)

    assert pks == sorted([stale.pk, never_seen.pk])
    assert sum(q["sql"].lstrip().startswith("UPDATE") for q in queries) == 1
    statuses = dict(Courier.objects.values_list("pk", "status"))
    assert statuses == {
        stale.pk: "offline",
        never_seen.pk: "offline",
        fresh.pk: "available",
        busy_stale.pk: "busy",
    }


def test_couriers_gone_stale_lose_their_open_offers() -> None:
    stale = online_courier(last_seen_at=timezone.now() - timedelta(seconds=121))
    fresh = online_courier()
    stale_offer = OfferFactory(courier=stale)
    fresh_offer = OfferFactory(courier=fresh)

    couriers_mark_stale_offline()

    statuses = dict(Offer.objects.values_list("pk", "status"))
    assert statuses == {
        stale_offer.pk: OfferStatus.WITHDRAWN,
        fresh_offer.pk: OfferStatus.PENDING,
    }


def test_retention_deletes_old_breadcrumbs_in_chunks() -> None:
    courier = CourierFactory()
    now = timezone.now()
    old, recent = now - timedelta(days=30, seconds=1), now - timedelta(days=29, hours=23)
    LocationPing.objects.bulk_create(
        LocationPing(courier=courier, point=Point(13.4, 52.5), recorded_at=at, received_at=at)
        for at in [old] * 7 + [recent] * 2
    )

    with CaptureQueriesContext(connection) as queries:
        deleted = location_pings_delete_old(now=now, chunk_size=3)

    assert deleted == 7
    assert sum(q["sql"].lstrip().startswith("DELETE") for q in queries) == 3  # 3 + 3 + 1
    assert set(LocationPing.objects.values_list("received_at", flat=True)) == {recent}


@pytest.mark.django_db(transaction=True)
def test_the_scheduled_tasks_run_on_a_real_cluster(worker_cluster) -> None:
    stale = online_courier(last_seen_at=timezone.now() - timedelta(minutes=10))
    courier = CourierFactory()
    old = timezone.now() - timedelta(days=31)
    LocationPing.objects.create(
        courier=courier, point=Point(13.4, 52.5), recorded_at=old, received_at=old
    )
    names = {task.func for task in PERIODIC_TASKS}

    stale_result = result(async_task("couriers.tasks.couriers_mark_stale_offline_task"), 20_000)
    retention_result = result(async_task("couriers.tasks.location_pings_retention_task"), 20_000)

    assert {
        "couriers.tasks.couriers_mark_stale_offline_task",
        "couriers.tasks.location_pings_retention_task",
    } <= names
    assert (stale_result, retention_result) == (1, 1)
    assert Courier.objects.get(pk=stale.pk).status == CourierStatus.OFFLINE
    assert LocationPing.objects.count() == 0
