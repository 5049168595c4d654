"""The tracking link: token storage and rotation, the JSON view, the page, headers,
uniform 404s, expiry, rate limits and the position privacy rules."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from jobs.lifecycle import job_transition
from jobs.models import EventKind, Job, JobEvent, JobStatus
from jobs.tracking.privacy import round_to_grid
from jobs.tracking.tokens import job_tracking_token, tracking_token_hash
from marketplace.eta import haversine_m
from tests.conftest import client_for
from tests.factories import ShopUserFactory
from tests.jobs.tracking_helpers import fix, track_url, tracked_job

S = JobStatus
PRIVATE = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}


def assert_private(response) -> None:
    for name, value in PRIVATE.items():
        assert response[name] == value, name


def test_only_the_hash_of_the_token_is_stored(db: None) -> None:
    job, token = tracked_job()

    assert len(token) == 32  # 24 bytes, base64url: 192 bits
    assert job.tracking_token_hash == hashlib.sha256(token.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM jobs_job WHERE id = %s", [job.pk])
        row = [str(value) for value in cursor.fetchone()]
    assert not any(token in value for value in row)


def test_tokens_differ_per_job_and_need_the_secret_key(db: None, settings) -> None:
    first, first_token = tracked_job()
    _second, second_token = tracked_job()
    assert first_token != second_token

    settings.SECRET_KEY = "another-secret-key-" + "y" * 40
    # Without the key the stored salt and hash do not give the token back.
    assert job_tracking_token(first) is None


def test_the_job_answer_carries_the_link_on_public_base_url(db: None, settings) -> None:
    settings.PUBLIC_BASE_URL = "https://track.example.com"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "other.example.net"]
    shop_user = ShopUserFactory()
    job, token = tracked_job(shop=shop_user.shop)

    response = client_for(shop_user).get(f"/api/v1/jobs/{job.pk}/", HTTP_HOST="other.example.net")

    assert response.json()["tracking_url"] == f"https://track.example.com/t/{token}"


def test_the_json_view_before_pickup(api_client, db: None) -> None:
    job, token = tracked_job(S.ASSIGNED, pin_required=True, recipient_pin="4821")
    JobEvent.objects.create(job=job, seq=1, from_status="", to_status=S.PENDING, actor_role="shop")
    JobEvent.objects.create(
        job=job, seq=2, from_status=S.PENDING, to_status=S.ASSIGNED, actor_role="courier"
    )
    fix(job, lat=52.515, lng=13.40)

    response = api_client.get(track_url(token))

    assert response.status_code == 200
    assert_private(response)
    body = response.json()
    assert body["status"] == "assigned"
    assert [step["step"] for step in body["timeline"]] == ["created", "courier_assigned"]
    assert body["shop"] == {"name": job.shop.name}
    assert body["courier"] == {"name": "Alex B.", "vehicle": "bike"}
    # Before pickup the recipient never sees where the courier is.
    assert body["courier_location"] is None
    assert body["pin_required"] is True
    assert body["pin"] == "4821"
    assert body["dropoff"] == {
        "address": "Potsdamer Platz 1, Berlin",
        "lat": 52.5096,
        "lng": 13.376,
    }
    assert body["eta"]["source"] == "straight_line"
    assert body["eta"]["confidence"] == "medium"
    assert body["eta"]["earliest"] < body["eta"]["latest"]
    assert body["warnings"] == []
    assert body["actions"] == ["instructions", "delivery_option", "reschedule"]
    assert body["proof"] is None
    assert body["expires_at"] is None
    assert "recipient_phone" not in str(body)
    assert job.recipient_phone not in str(body)


def test_after_pickup_the_position_is_rounded_to_about_50_m(api_client, db: None) -> None:
    job, token = tracked_job(S.PICKED_UP)
    fix(job, lat=52.51234, lng=13.39876, age_s=30, heading=93)
    fix(job, lat=52.6, lng=13.6, age_s=1, flag="implausible_speed")  # never shown

    body = api_client.get(track_url(token)).json()

    location = body["courier_location"]
    assert (location["lat"], location["lng"]) == round_to_grid(52.51234, 13.39876)
    assert location["heading"] == 90
    assert set(location) == {"lat", "lng", "heading", "recorded_at"}
    exact = job.dropoff_point.__class__(13.39876, 52.51234, srid=4326)
    shown = job.dropoff_point.__class__(location["lng"], location["lat"], srid=4326)
    assert 0 < haversine_m(exact, shown) <= 36  # half a 50 m cell's diagonal


def test_a_stale_fix_hides_the_position_and_lowers_the_confidence(api_client, db: None) -> None:
    job, token = tracked_job(S.PICKED_UP)
    fix(job, lat=52.512, lng=13.398, age_s=90)

    body = api_client.get(track_url(token)).json()

    assert body["courier_location"] is None
    assert body["eta"]["confidence"] == "low"
    assert body["warnings"] == ["stale_location"]


def test_grid_rounding_gives_one_answer_per_cell() -> None:
    a = round_to_grid(52.500010, 13.400010)
    b = round_to_grid(52.500020, 13.400030)
    assert a == b
    assert round_to_grid(52.5009, 13.4) != a


@pytest.mark.parametrize("status", [S.DELIVERED, S.CANCELLED])
def test_after_the_job_ends_nothing_about_the_courier_is_shown(
    api_client, db: None, status: JobStatus
) -> None:
    job, token = tracked_job(status, ended_at=timezone.now())
    if job.courier_id:
        fix(job, lat=52.512, lng=13.398)

    body = api_client.get(track_url(token)).json()

    assert body["courier"] is None
    assert body["courier_location"] is None
    assert body["eta"] is None
    assert body["pin"] is None
    assert body["expires_at"] is not None


def test_unknown_rotated_and_expired_links_get_the_same_404(api_client, db: None, settings) -> None:
    shop_user = ShopUserFactory()
    rotated_job, rotated = tracked_job(shop=shop_user.shop)
    new = client_for(shop_user).post(f"/api/v1/jobs/{rotated_job.pk}/tracking/rotate/").json()
    _expired_job, expired = tracked_job(
        S.DELIVERED,
        ended_at=timezone.now() - timedelta(hours=settings.TRACKING_LINK_TTL_HOURS, seconds=1),
    )

    answers = [api_client.get(track_url(token)) for token in ("x" * 32, rotated, expired)]

    assert [r.status_code for r in answers] == [404, 404, 404]
    assert len({r.content for r in answers}) == 1
    assert answers[0].json()["code"] == "not_found"
    for response in answers:
        assert_private(response)
    pages = [api_client.get(f"/t/{token}") for token in ("x" * 32, rotated, expired)]
    assert [r.status_code for r in pages] == [404, 404, 404]
    assert len({r.content for r in pages}) == 1
    assert_private(pages[0])
    # The new link works.
    assert api_client.get(track_url(new["tracking_token"])).status_code == 200
    assert new["tracking_url"] == f"http://testserver/t/{new['tracking_token']}"


def test_a_link_works_until_the_ttl_after_the_end(api_client, db: None, settings) -> None:
    ttl = timedelta(hours=settings.TRACKING_LINK_TTL_HOURS)
    _, live = tracked_job(S.DELIVERED, ended_at=timezone.now() - ttl + timedelta(minutes=1))

    assert api_client.get(track_url(live)).status_code == 200


def test_delivery_stamps_the_end_that_starts_the_ttl(db: None) -> None:
    job, _ = tracked_job(S.AT_DROPOFF)

    delivered, _ = job_transition(job=job, to=S.DELIVERED, actor=None)

    assert delivered.ended_at == delivered.delivered_at


def test_rotation_is_for_the_jobs_shop_only(db: None) -> None:
    job, token = tracked_job()
    stranger = ShopUserFactory()

    response = client_for(stranger).post(f"/api/v1/jobs/{job.pk}/tracking/rotate/")

    assert response.status_code == 404
    job.refresh_from_db()
    assert job.tracking_token_hash == tracking_token_hash(token)
    assert not JobEvent.objects.filter(job=job, kind=EventKind.TRACKING_ROTATED).exists()


def test_rotation_records_an_event_for_the_shop(db: None) -> None:
    shop_user = ShopUserFactory()
    job, _ = tracked_job(shop=shop_user.shop)

    client_for(shop_user).post(f"/api/v1/jobs/{job.pk}/tracking/rotate/")

    event = JobEvent.objects.get(job=job)
    assert (event.kind, event.actor_role, event.to_status) == (
        "tracking_link_rotated",
        "shop",
        "pending",
    )


def test_too_many_requests_per_link_get_429(api_client, db: None, settings) -> None:
    settings.TRACKING_RATE_PER_TOKEN = "3/min"
    settings.TRACKING_RATE_PER_ADDRESS = "100/min"
    _, token = tracked_job()

    codes = [api_client.get(track_url(token)).status_code for _ in range(4)]

    assert codes == [200, 200, 200, 429]
    refused = api_client.get(track_url(token))
    assert refused.json()["code"] == "throttled"
    assert int(refused["Retry-After"]) >= 1
    assert_private(refused)
    assert api_client.get(f"/t/{token}").status_code == 429


def test_too_many_requests_per_address_get_429_whatever_the_token(
    api_client, db: None, settings
) -> None:
    settings.TRACKING_RATE_PER_TOKEN = "100/min"
    settings.TRACKING_RATE_PER_ADDRESS = "3/min"
    _, token = tracked_job()

    codes = [api_client.get(track_url(f"guess{i}")).status_code for i in range(3)]
    codes.append(api_client.get(track_url(token)).status_code)

    assert codes == [404, 404, 404, 429]


def test_the_page_shows_the_facts_without_javascript(api_client, db: None, settings) -> None:
    settings.MAP_TILE_URL = ""
    job, token = tracked_job(S.PICKED_UP, pin_required=True, recipient_pin="7310")
    fix(job, lat=52.512, lng=13.398)

    response = api_client.get(f"/t/{token}")

    assert response.status_code == 200
    assert_private(response)
    html = response.content.decode()
    assert '<html lang="en-us">' in html
    assert "On the way to you" in html
    assert "Arrives between" in html
    assert "7310" in html
    assert job.shop.name in html
    # The no-JS map: pickup, drop-off and courier markers.
    for kind in ("pickup", "dropoff", "courier"):
        assert f'class="marker-{kind}"' in html
    # Everything it loads comes from this server.
    assert "http://" not in html.replace("http://testserver", "")
    assert "https://" not in html
    csp = response["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "img-src 'self' data:;" in csp


def test_the_page_allows_the_tile_server_only_when_configured(
    api_client, db: None, settings
) -> None:
    settings.MAP_TILE_URL = "https://tiles.example.org/{z}/{x}/{y}.png"
    _, token = tracked_job()

    csp = api_client.get(f"/t/{token}")["Content-Security-Policy"]

    assert "img-src 'self' data: https://tiles.example.org;" in csp


def test_the_proof_photo_is_shown_after_delivery_only(api_client, db: None) -> None:
    from jobs.models import JobPhoto, PhotoKind, ProofOfDelivery

    job, token = tracked_job(S.DELIVERED, ended_at=timezone.now())
    photo = JobPhoto.objects.create(
        job=job,
        kind=PhotoKind.DELIVERY,
        content_type="image/png",
        data=b"\x89PNG-bytes",
        size_bytes=10,
        sha256="0" * 64,
    )
    ProofOfDelivery.objects.create(job=job, photo=photo)

    body = api_client.get(track_url(token)).json()

    url = f"http://testserver/api/v1/track/{token}/photos/{photo.pk}/"
    assert body["proof"]["photo_urls"] == [url]
    image = api_client.get(url)
    assert image.status_code == 200
    assert image.content == b"\x89PNG-bytes"
    assert_private(image)
    Job.objects.filter(pk=job.pk).update(status=S.AT_DROPOFF, ended_at=None)
    assert api_client.get(url).status_code == 404
