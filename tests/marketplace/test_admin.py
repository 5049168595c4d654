"""The admin edits points as latitude/longitude offline, and stays locked and cheap to list."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from couriers.models import Courier
from marketplace.admin_widgets import LatLngFormField
from marketplace.models import Shop
from tests.factories import CourierFactory, ShopFactory, ShopUserFactory, UserFactory

ALEXANDERPLATZ = Point(13.4132, 52.5219, srid=4326)


class FormValues(HTMLParser):
    """What a browser would submit for one form: its inputs, selects and textareas."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.values: dict[str, str] = {}
        self._in_form = False
        self._select: str | None = None
        self._select_first: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {key: value or "" for key, value in attrs}
        if tag == "form":
            self._in_form = attr.get("id") == self.form_id
        if not self._in_form or ("name" not in attr and tag != "option"):
            return
        if tag == "input":
            kind = attr.get("type", "text")
            if kind in {"submit", "button", "file", "image", "reset"}:
                return
            if kind in {"checkbox", "radio"} and "checked" not in attr:
                return
            self.values[attr["name"]] = attr.get("value", "on" if kind == "checkbox" else "")
        elif tag == "select":
            self._select, self._select_first = attr["name"], None
        elif tag == "option" and self._select is not None:
            if self._select_first is None:
                self._select_first = attr.get("value", "")
            if "selected" in attr:
                self.values[self._select] = attr.get("value", "")
        elif tag == "textarea":
            self._textarea = attr["name"]
            self.values[self._textarea] = ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.values[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "select" and self._select is not None:
            self.values.setdefault(self._select, self._select_first or "")
            self._select = None
        elif tag == "textarea":
            self._textarea = None


class AssetUrls(HTMLParser):
    """Every script and stylesheet-like resource a page asks the browser to load."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "script" and attr.get("src"):
            self.urls.append(attr["src"])
        elif tag == "link" and attr.get("href"):
            self.urls.append(attr["href"])


def form_values(html: str, form_id: str) -> dict[str, str]:
    parser = FormValues(form_id)
    parser.feed(html)
    assert parser.values, f"no form #{form_id} on the page"
    return parser.values


def asset_urls(html: str) -> list[str]:
    parser = AssetUrls()
    parser.feed(html)
    return parser.urls


def served(client: Client, url: str) -> bytes:
    """The body of a 200 response; static files stream, and reading them to the end
    lets the test client close them without closing the test's database connection."""
    response = client.get(url)
    assert response.status_code == 200, url
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def shop_change_url(shop: Shop) -> str:
    return f"/admin/marketplace/shop/{shop.pk}/change/"


def courier_change_url(courier: Courier) -> str:
    return f"/admin/couriers/courier/{courier.pk}/change/"


def post_point(client: Client, url: str, form_id: str, field: str, lat: str, lng: str):
    """Submit the change form as the page rendered it, with only the point retyped."""
    data = form_values(client.get(url).content.decode(), form_id)
    data.update({f"{field}_lat": lat, f"{field}_lng": lng})
    return client.post(url, data)


def post_shop_point(client: Client, shop: Shop, lat: str, lng: str):
    return post_point(client, shop_change_url(shop), "shop_form", "default_pickup_point", lat, lng)


def post_courier_point(client: Client, courier: Courier, lat: str, lng: str):
    url = courier_change_url(courier)
    return post_point(client, url, "courier_form", "current_point", lat, lng)


def point_errors(response, field: str) -> list[str]:
    return list(response.context["adminform"].form.errors.get(field, []))


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def superuser_client(client: Client, superuser) -> Client:
    client.force_login(superuser)
    return client


@pytest.fixture
def shop(db) -> Shop:
    return ShopFactory(name="Corner Bakery", default_pickup_point=ALEXANDERPLATZ)


@pytest.fixture
def courier_on_the_road(db) -> Courier:
    return CourierFactory(current_point=Point(2.3522, 48.8566, srid=4326))


def assert_point(point: Point | None, *, lat: float, lng: float) -> None:
    assert point is not None
    assert (point.x, point.y, point.srid) == (lng, lat, 4326)


# --- Rendering, offline -----------------------------------------------------------------


def test_shop_change_page_shows_the_point_as_lat_lng(superuser_client, shop) -> None:
    response = superuser_client.get(shop_change_url(shop))

    assert response.status_code == 200
    values = form_values(response.content.decode(), "shop_form")
    assert values["default_pickup_point_lat"] == "52.5219"
    assert values["default_pickup_point_lng"] == "13.4132"
    assert 'class="latlng-map"' in response.content.decode()


def test_courier_change_page_shows_the_point_as_lat_lng(
    superuser_client, courier_on_the_road
) -> None:
    response = superuser_client.get(courier_change_url(courier_on_the_road))

    assert response.status_code == 200
    values = form_values(response.content.decode(), "courier_form")
    assert values["current_point_lat"] == "48.8566"
    assert values["current_point_lng"] == "2.3522"


@pytest.mark.parametrize("page", ["shop", "courier", "shop_add"])
def test_admin_pages_load_nothing_from_outside_the_site(
    superuser_client, shop, courier_on_the_road, page
) -> None:
    url = {
        "shop": shop_change_url(shop),
        "courier": courier_change_url(courier_on_the_road),
        "shop_add": "/admin/marketplace/shop/add/",
    }[page]
    urls = asset_urls(superuser_client.get(url).content.decode())

    external = [u for u in urls if urlsplit(u).scheme or urlsplit(u).netloc]
    assert external == []
    assert {
        "/static/leaflet/leaflet.js",
        "/static/leaflet/leaflet.css",
        "/static/marketplace/latlng_widget.js",
    } <= set(urls)
    # Same-site but not static: the admin's JavaScript catalogue.
    assert [u for u in urls if not u.startswith("/static/")] == ["/admin/jsi18n/"]
    for asset in urls:
        assert served(superuser_client, asset), asset


def test_leaflet_marker_images_are_served(client) -> None:
    # leaflet.css finds its default marker through images/ next to itself.
    for name in ["marker-icon.png", "marker-icon-2x.png", "marker-shadow.png"]:
        assert served(client, f"/static/leaflet/images/{name}").startswith(b"\x89PNG"), name


def test_without_a_tile_url_the_map_says_so(superuser_client, shop, settings) -> None:
    settings.MAP_TILE_URL = ""

    html = superuser_client.get(shop_change_url(shop)).content.decode()

    assert 'data-tile-url=""' in html
    assert "No map tiles configured (set MAP_TILE_URL)" in html


def test_configured_tiles_reach_the_map(superuser_client, shop, settings) -> None:
    settings.MAP_TILE_URL = "https://tiles.example/{z}/{x}/{y}.png"

    html = superuser_client.get(shop_change_url(shop)).content.decode()

    assert 'data-tile-url="https://tiles.example/{z}/{x}/{y}.png"' in html
    assert "No map tiles configured" not in html


# --- Saving -----------------------------------------------------------------------------


def test_shop_point_is_saved_exactly_as_typed(superuser_client, shop) -> None:
    response = post_shop_point(superuser_client, shop, "48.1374", "11.5755")

    assert response.status_code == 302
    assert response["Location"] == "/admin/marketplace/shop/"
    shop.refresh_from_db()
    assert_point(shop.default_pickup_point, lat=48.1374, lng=11.5755)
    assert shop.name == "Corner Bakery"


def test_courier_point_is_saved_exactly_as_typed(superuser_client, courier_on_the_road) -> None:
    response = post_courier_point(superuser_client, courier_on_the_road, "-33.8688", "151.2093")

    assert response.status_code == 302
    courier_on_the_road.refresh_from_db()
    assert_point(courier_on_the_road.current_point, lat=-33.8688, lng=151.2093)


def test_extreme_coordinates_are_accepted(superuser_client, shop) -> None:
    response = post_shop_point(superuser_client, shop, "-90", "180")

    assert response.status_code == 302
    shop.refresh_from_db()
    assert_point(shop.default_pickup_point, lat=-90.0, lng=180.0)


def test_both_empty_clears_the_shop_point(superuser_client, shop) -> None:
    response = post_shop_point(superuser_client, shop, "", "")

    assert response.status_code == 302
    shop.refresh_from_db()
    assert shop.default_pickup_point is None


def test_both_empty_clears_the_courier_point(superuser_client, courier_on_the_road) -> None:
    response = post_courier_point(superuser_client, courier_on_the_road, "", "")

    assert response.status_code == 302
    courier_on_the_road.refresh_from_db()
    assert courier_on_the_road.current_point is None


@pytest.mark.parametrize(
    ("lat", "lng", "errors"),
    [
        ("91", "13.4", ["Latitude must be between -90 and 90."]),
        ("-90.0001", "13.4", ["Latitude must be between -90 and 90."]),
        ("52.5", "-181", ["Longitude must be between -180 and 180."]),
        ("52.5", "180.5", ["Longitude must be between -180 and 180."]),
        (
            "95",
            "200",
            ["Latitude must be between -90 and 90.", "Longitude must be between -180 and 180."],
        ),
        ("north", "13.4", ["Latitude must be a number."]),
        ("52.5", "1e", ["Longitude must be a number."]),
        ("nan", "13.4", ["Latitude must be a number."]),
        ("52.5", "inf", ["Longitude must be a number."]),
        ("52.5", "", ["Enter both latitude and longitude, or leave both empty."]),
        ("", "13.4", ["Enter both latitude and longitude, or leave both empty."]),
    ],
)
def test_bad_coordinates_are_refused_and_nothing_changes(
    superuser_client, shop, lat, lng, errors
) -> None:
    response = post_shop_point(superuser_client, shop, lat, lng)

    assert response.status_code == 200
    assert point_errors(response, "default_pickup_point") == errors
    for error in errors:
        assert error in response.content.decode()
    # The form comes back with what was typed, so it can be corrected.
    values = form_values(response.content.decode(), "shop_form")
    assert (values["default_pickup_point_lat"], values["default_pickup_point_lng"]) == (lat, lng)
    shop.refresh_from_db()
    assert_point(shop.default_pickup_point, lat=52.5219, lng=13.4132)


def test_bad_courier_coordinates_leave_the_point_unchanged(
    superuser_client, courier_on_the_road
) -> None:
    response = post_courier_point(superuser_client, courier_on_the_road, "91", "2.35")

    assert response.status_code == 200
    assert point_errors(response, "current_point") == ["Latitude must be between -90 and 90."]
    courier_on_the_road.refresh_from_db()
    assert_point(courier_on_the_road.current_point, lat=48.8566, lng=2.3522)


def test_a_required_point_refuses_empty_and_half_filled_input() -> None:
    field = LatLngFormField(required=True)

    assert_point(field.clean(["52.5", "13.4"]), lat=52.5, lng=13.4)
    with pytest.raises(ValidationError) as empty:
        field.clean(["", ""])
    assert empty.value.messages == ["This field is required."]
    with pytest.raises(ValidationError) as half:
        field.clean(["52.5", ""])
    assert half.value.messages == ["Enter both latitude and longitude."]


# --- Adding -----------------------------------------------------------------------------


def test_shop_is_added_with_a_point(superuser_client) -> None:
    url = "/admin/marketplace/shop/add/"
    data = form_values(superuser_client.get(url).content.decode(), "shop_form")
    assert (data["default_pickup_point_lat"], data["default_pickup_point_lng"]) == ("", "")
    data.update(
        {
            "name": "Night Pharmacy",
            "default_pickup_address": "Karl-Marx-Allee 2, Berlin",
            "default_pickup_point_lat": "52.5186",
            "default_pickup_point_lng": "13.4290",
        }
    )

    response = superuser_client.post(url, data)

    assert response.status_code == 302
    shop = Shop.objects.get()
    assert shop.name == "Night Pharmacy"
    assert shop.default_pickup_address == "Karl-Marx-Allee 2, Berlin"
    assert_point(shop.default_pickup_point, lat=52.5186, lng=13.429)


def test_shop_is_added_without_a_point(superuser_client) -> None:
    url = "/admin/marketplace/shop/add/"
    data = form_values(superuser_client.get(url).content.decode(), "shop_form")
    data["name"] = "Pointless"

    response = superuser_client.post(url, data)

    assert response.status_code == 302
    assert Shop.objects.get().default_pickup_point is None


# --- Access -----------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["anonymous", "shop_user", "courier"])
def test_non_staff_are_sent_to_the_login_page(client, shop, courier_on_the_road, who) -> None:
    if who == "shop_user":
        client.force_login(ShopUserFactory(shop=shop))
    elif who == "courier":
        client.force_login(courier_on_the_road.user)
    url = shop_change_url(shop)

    read = client.get(url)
    write = client.post(
        url,
        {"name": "Hijacked", "default_pickup_point_lat": "0", "default_pickup_point_lng": "0"},
    )

    for response in (read, write):
        assert response.status_code == 302
        assert response["Location"] == f"/admin/login/?next={url}"
        assert b"Corner Bakery" not in response.content
    shop.refresh_from_db()
    assert shop.name == "Corner Bakery"
    assert_point(shop.default_pickup_point, lat=52.5219, lng=13.4132)


# --- Query counts -----------------------------------------------------------------------


def make_users(count: int) -> None:
    for _ in range(count):
        ShopUserFactory()


def make_shops(count: int) -> None:
    ShopFactory.create_batch(count)


def make_couriers(count: int) -> None:
    CourierFactory.create_batch(count)


@pytest.mark.parametrize(
    ("url", "make_rows", "rows_besides"),
    [
        # The signed-in superuser is a user row too.
        ("/admin/marketplace/user/", make_users, 1),
        ("/admin/marketplace/shop/", make_shops, 0),
        ("/admin/couriers/courier/", make_couriers, 0),
    ],
)
def test_changelists_query_the_same_for_2_and_10_rows(
    superuser_client, url, make_rows, rows_besides
) -> None:
    def queries_for_listing(rows: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = superuser_client.get(url)
        assert response.status_code == 200
        assert response.context["cl"].result_count == rows + rows_besides
        return len(queries)

    make_rows(2)
    with_two = queries_for_listing(2)
    make_rows(8)
    with_ten = queries_for_listing(10)

    assert with_ten == with_two
