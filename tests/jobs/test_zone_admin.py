"""Zone admin: the area is GeoJSON or WKT checked on the server, with an offline Leaflet map;
jobs and quotes are read-only with the job's events inline."""

from __future__ import annotations

import json
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from jobs.lifecycle import job_transition
from jobs.models import JobStatus, ProofOfDelivery, ServiceZone
from marketplace.models import User
from tests.factories import CourierFactory, JobFactory, ServiceZoneFactory, UserFactory
from tests.jobs.conftest import trip_body
from tests.marketplace.test_admin import asset_urls, form_values, served

ADD_URL = "/admin/jobs/servicezone/add/"
SQUARE = [[13.3, 52.45], [13.5, 52.45], [13.5, 52.55], [13.3, 52.55], [13.3, 52.45]]
SQUARE_AREA = MultiPolygon(Polygon(SQUARE), srid=4326)


@pytest.fixture
def superuser(db: None) -> User:
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(client: Client, superuser: User) -> Client:
    client.force_login(superuser)
    return client


def change_url(zone: ServiceZone) -> str:
    return f"/admin/jobs/servicezone/{zone.pk}/change/"


def add_zone(client: Client, area: str, **extra: str):
    data = form_values(client.get(ADD_URL).content.decode(), "servicezone_form")
    data.update({"name": "Kreuzberg", "area": area, **extra})
    return client.post(ADD_URL, data)


def area_errors(response) -> list[str]:
    return list(response.context["adminform"].form.errors.get("area", []))


def test_add_page_loads_its_map_from_our_own_static_files(admin_client) -> None:
    response = admin_client.get(ADD_URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="zone-area-widget"' in html
    urls = asset_urls(html)
    assert [u for u in urls if urlsplit(u).scheme or urlsplit(u).netloc] == []
    assert {
        "/static/leaflet/leaflet.js",
        "/static/leaflet/draw/leaflet.draw.js",
        "/static/leaflet/draw/leaflet.draw.css",
        "/static/jobs/zone_area_widget.js",
    } <= set(urls)
    for url in urls:
        assert served(admin_client, url), url
    assert "No map tiles configured (set MAP_TILE_URL)" in html


def test_a_geojson_polygon_is_saved_as_a_multipolygon(admin_client) -> None:
    response = add_zone(
        admin_client,
        json.dumps({"type": "Polygon", "coordinates": [SQUARE]}),
        currency="EUR",
        base_fee_minor="400",
    )

    assert response.status_code == 302, area_errors(response)
    zone = ServiceZone.objects.get(name="Kreuzberg")
    assert zone.area.equals_exact(SQUARE_AREA)
    assert zone.area.srid == 4326
    assert (zone.currency, zone.base_fee_minor) == ("eur", 400)
    # Defaults come through the form unchanged.
    assert zone.size_factors == {"small": "1.00", "medium": "1.20", "large": "1.50", "xl": "2.00"}


@pytest.mark.parametrize(
    "area",
    [
        "POLYGON((13.3 52.45, 13.5 52.45, 13.5 52.55, 13.3 52.55, 13.3 52.45))",
        "SRID=4326;MULTIPOLYGON(((13.3 52.45, 13.5 52.45, 13.5 52.55, 13.3 52.55, 13.3 52.45)))",
        json.dumps(
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Polygon", "coordinates": [SQUARE]},
            }
        ),
        json.dumps({"type": "MultiPolygon", "coordinates": [[SQUARE]]}),
    ],
)
def test_wkt_and_features_are_accepted(admin_client, area) -> None:
    response = add_zone(admin_client, area)

    assert response.status_code == 302, area_errors(response)
    assert ServiceZone.objects.get().area.equals_exact(SQUARE_AREA)


def test_the_change_page_shows_the_area_and_saves_edits(admin_client) -> None:
    zone = ServiceZoneFactory(name="Mitte", area=SQUARE_AREA)
    page = admin_client.get(change_url(zone))
    data = form_values(page.content.decode(), "servicezone_form")
    assert json.loads(data["area"])["type"] == "MultiPolygon"

    # Saved as rendered: nothing changes.
    unchanged = admin_client.post(change_url(zone), data)
    bigger = [[13.2, 52.4], [13.6, 52.4], [13.6, 52.6], [13.2, 52.6], [13.2, 52.4]]
    data["area"] = json.dumps({"type": "Polygon", "coordinates": [bigger]})
    data["per_km_minor"] = "150"
    edited = admin_client.post(change_url(zone), data)

    assert unchanged.status_code == edited.status_code == 302
    zone.refresh_from_db()
    assert zone.area.equals_exact(MultiPolygon(Polygon(bigger), srid=4326))
    assert zone.per_km_minor == 150


BOWTIE = [[13.3, 52.45], [13.5, 52.55], [13.5, 52.45], [13.3, 52.55], [13.3, 52.45]]


@pytest.mark.parametrize(
    ("area", "error"),
    [
        ("", "This field is required."),
        ("{not json", "Not valid JSON"),
        ('{"type": "Point", "coordinates": [13.4, 52.5]}', "Expected a Polygon or MultiPolygon"),
        (json.dumps({"type": "Polygon", "coordinates": [BOWTIE]}), "not a valid polygon"),
        (json.dumps({"type": "Polygon", "coordinates": [SQUARE[:-1]]}), "end where it starts"),
        (json.dumps({"type": "Polygon", "coordinates": [SQUARE[:3]]}), "at least 4 positions"),
        (
            json.dumps(
                {"type": "Polygon", "coordinates": [[[200, 52], [201, 52], [201, 53], [200, 52]]]}
            ),
            "within [-180, 180]",
        ),
        (json.dumps({"type": "Polygon", "coordinates": [[["13.3", "52.4"]] * 4]}), "numbers"),
        (
            json.dumps(
                {
                    "type": "Polygon",
                    "coordinates": [SQUARE],
                    "crs": {"type": "name", "properties": {"name": "EPSG:3857"}},
                }
            ),
            "Leave out 'crs'",
        ),
        ("SRID=3857;POLYGON((0 0, 1 0, 1 1, 0 0))", "Only SRID=4326"),
        ("POLYGON((13.3 52.45, 13.5", "Not valid WKT"),
        ("LINESTRING(13.3 52.45, 13.5 52.55)", "Expected GeoJSON, or WKT"),
    ],
)
def test_bad_areas_are_refused_and_nothing_is_saved(admin_client, area, error) -> None:
    response = add_zone(admin_client, area)

    assert response.status_code == 200
    errors = area_errors(response)
    assert len(errors) == 1, errors
    assert error in errors[0], errors
    assert ServiceZone.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("size_factors", '{"small": "1.00"}'),
        ("size_factors", '{"small": "0.5", "medium": "1", "large": "1", "xl": "1"}'),
        ("vehicle_factors", '{"bike": "x", "scooter": "1", "car": "1", "van": "1"}'),
        ("currency", "euro"),
    ],
)
def test_bad_prices_are_refused(admin_client, field, value) -> None:
    response = add_zone(
        admin_client, json.dumps({"type": "Polygon", "coordinates": [SQUARE]}), **{field: value}
    )

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert ServiceZone.objects.count() == 0


def test_non_staff_cannot_reach_the_zone_admin(client, db) -> None:
    client.force_login(UserFactory())

    response = client.get(ADD_URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


# --- Jobs -------------------------------------------------------------------------------


def test_job_page_shows_events_and_offers_no_edits(admin_client) -> None:
    job = JobFactory(external_ref="order-9")
    courier = CourierFactory()
    job_transition(job=job, to=JobStatus.ASSIGNED, actor=courier.user, courier=courier)

    response = admin_client.get(f"/admin/jobs/job/{job.pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "order-9" in html
    assert 'name="_save"' not in html
    assert "Assigned" in html
    assert admin_client.get("/admin/jobs/job/add/").status_code == 403


def test_staff_unlock_locked_pins_from_the_job_list(admin_client, superuser) -> None:
    locked = JobFactory(is_pin_locked=True, pin_failed_attempts=5, pin_required=True)
    unlocked = JobFactory(pin_required=True)

    response = admin_client.post(
        "/admin/jobs/job/",
        {"action": "unlock_pins", "_selected_action": [str(locked.pk), str(unlocked.pk)]},
        follow=True,
    )

    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert messages == ["Unlocked 1 PIN(s); 1 selected job(s) had no locked PIN."]
    locked.refresh_from_db()
    assert (locked.is_pin_locked, locked.pin_failed_attempts, locked.needs_review) == (
        False,
        0,
        True,
    )
    assert "PIN unlocked by staff root" in locked.review_reason
    unlocked.refresh_from_db()
    assert (unlocked.is_pin_locked, unlocked.review_reason) == (False, "")


def test_job_page_shows_the_proof_of_delivery(admin_client) -> None:
    job = JobFactory(status=JobStatus.DELIVERED)
    ProofOfDelivery.objects.create(
        job=job, is_pin_verified=True, recipient_name="Robin", distance_to_dropoff_m=12
    )

    response = admin_client.get(f"/admin/jobs/job/{job.pk}/change/")

    html = response.content.decode()
    assert "Proof of delivery" in html
    assert "Robin" in html


def test_job_changelist_queries_the_same_for_2_and_10_jobs(admin_client) -> None:
    def queries_for_listing(rows: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get("/admin/jobs/job/")
        assert response.status_code == 200
        assert response.context["cl"].result_count == rows
        return len(queries)

    zone = ServiceZoneFactory()
    for _ in range(2):
        JobFactory(zone=zone)
    with_two = queries_for_listing(2)
    for _ in range(8):
        courier = CourierFactory()
        JobFactory(zone=zone, status=JobStatus.ASSIGNED, courier=courier)
    with_ten = queries_for_listing(10)

    assert with_ten == with_two


# --- A fresh install has a zone ---------------------------------------------------------


def test_seed_demo_zone_makes_berlin_quotable_once(db, shop_client) -> None:
    out = StringIO()
    call_command("seed_demo_zone", stdout=out)
    call_command("seed_demo_zone", stdout=out)

    zone = ServiceZone.objects.get()
    assert (zone.name, zone.is_active, zone.currency) == ("Berlin (demo)", True, "eur")
    assert zone.area.extent == (13.088, 52.338, 13.761, 52.675)
    assert "created service zone 'Berlin (demo)'" in out.getvalue()
    assert "1 service zone(s) already defined" in out.getvalue()
    response = shop_client.post("/api/v1/quotes/", trip_body(), format="json")
    assert (response.status_code, response.json()["zone_id"]) == (201, zone.pk)


def test_seed_demo_zone_leaves_real_zones_alone(db) -> None:
    ServiceZoneFactory(name="Hamburg", is_active=False)

    call_command("seed_demo_zone")

    assert list(ServiceZone.objects.values_list("name", flat=True)) == ["Hamburg"]


# --- Zones from files -------------------------------------------------------------------

WEST = [[13.3, 52.45], [13.4, 52.45], [13.4, 52.55], [13.3, 52.55], [13.3, 52.45]]
EAST = [[13.4, 52.45], [13.5, 52.45], [13.5, 52.55], [13.4, 52.55], [13.4, 52.45]]


def feature(ring: list[list[float]], name: str) -> dict:
    return {
        "type": "Feature",
        "properties": {"name": name},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def test_zone_import_merges_districts_into_one_zone(db, tmp_path) -> None:
    path = tmp_path / "districts.geojson"
    path.write_text(
        json.dumps(
            {"type": "FeatureCollection", "features": [feature(WEST, "W"), feature(EAST, "E")]}
        )
    )
    out = StringIO()

    call_command("zone_import", str(path), "--name", "Berlin", "--currency", "EUR", stdout=out)

    zone = ServiceZone.objects.get(name="Berlin")
    # Two districts sharing a border become one valid polygon: the square.
    assert zone.area.valid
    assert len(zone.area) == 1
    assert zone.area.equals(SQUARE_AREA)
    assert (zone.currency, zone.is_active) == ("eur", True)
    assert "created zone 'Berlin' (1 polygon(s), active, eur)" in out.getvalue()


def test_zone_import_replaces_the_area_of_a_zone_with_that_name(db, tmp_path) -> None:
    zone = ServiceZoneFactory(name="Berlin", base_fee_minor=999)
    path = tmp_path / "area.wkt"
    path.write_text("POLYGON((13.3 52.45, 13.5 52.45, 13.5 52.55, 13.3 52.55, 13.3 52.45))")

    call_command("zone_import", str(path), "--name", "Berlin", stdout=StringIO())

    zone.refresh_from_db()
    assert zone.area.equals_exact(SQUARE_AREA)
    assert zone.base_fee_minor == 999
    assert ServiceZone.objects.count() == 1


def test_zone_import_refuses_a_bad_file_and_saves_nothing(db, tmp_path) -> None:
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps({"type": "Polygon", "coordinates": [BOWTIE]}))

    with pytest.raises(CommandError, match="not a valid polygon"):
        call_command("zone_import", str(path), "--name", "Bad")
    with pytest.raises(CommandError, match="cannot read"):
        call_command("zone_import", str(tmp_path / "missing.geojson"), "--name", "Bad")
    assert ServiceZone.objects.count() == 0
