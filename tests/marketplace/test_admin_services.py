"""The admin does not edit around the services: status, capacity and webhook URL are read-only."""

from __future__ import annotations

import pytest
from django.test import Client

from couriers.models import Capacity, Courier, CourierStatus, Vehicle
from marketplace.models import Shop
from tests.factories import CourierFactory, ShopFactory
from tests.marketplace.test_admin import courier_change_url, form_values, shop_change_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client: Client, admin_user) -> Client:
    client.force_login(admin_user)
    return client


def test_a_posted_courier_status_or_capacity_changes_nothing(superuser_client: Client) -> None:
    courier = CourierFactory(
        status=CourierStatus.OFFLINE, vehicle=Vehicle.BIKE, capacity=Capacity.SMALL
    )
    url = courier_change_url(courier)
    page = superuser_client.get(url).content.decode()
    data = form_values(page, "courier_form")
    assert "status" not in data
    assert "capacity" not in data
    data.update({"status": CourierStatus.AVAILABLE, "capacity": Capacity.XL, "vehicle": "van"})

    response = superuser_client.post(url, data)

    assert response.status_code == 302
    courier.refresh_from_db()
    assert (courier.status, courier.vehicle, courier.capacity) == ("offline", "bike", "small")


def test_the_courier_page_shows_status_and_capacity_without_inputs(
    superuser_client: Client,
) -> None:
    courier = CourierFactory(status=CourierStatus.BUSY)

    page = superuser_client.get(courier_change_url(courier)).content.decode()

    assert 'name="status"' not in page
    assert 'name="capacity"' not in page
    assert "Busy" in page


def test_staff_cannot_add_a_courier_in_the_admin(superuser_client: Client) -> None:
    response = superuser_client.get("/admin/couriers/courier/add/")

    assert response.status_code == 403
    assert Courier.objects.count() == 0


def test_a_posted_webhook_url_changes_nothing(superuser_client: Client) -> None:
    shop = ShopFactory(name="Corner Bakery", webhook_url="https://hooks.example.com/mp")
    url = shop_change_url(shop)
    data = form_values(superuser_client.get(url).content.decode(), "shop_form")
    assert "webhook_url" not in data
    data["webhook_url"] = "http://169.254.169.254/latest/meta-data/"

    response = superuser_client.post(url, data)

    assert response.status_code == 302
    assert Shop.objects.get(pk=shop.pk).webhook_url == "https://hooks.example.com/mp"


def test_a_shop_added_in_the_admin_gets_no_webhook_url(superuser_client: Client) -> None:
    url = "/admin/marketplace/shop/add/"
    data = form_values(superuser_client.get(url).content.decode(), "shop_form")
    data.update({"name": "Night Pharmacy", "webhook_url": "http://10.0.0.5/hook"})

    response = superuser_client.post(url, data)

    assert response.status_code == 302
    assert Shop.objects.get().webhook_url == ""
