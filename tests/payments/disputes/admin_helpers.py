"""A delivered job with every kind of evidence, built through the real services, for the
dispute admin tests: a paid job (stand-in) walked by a courier with breadcrumbs, a wrong
PIN then the right one, photo and signature outside the geofence, the recipient's
instructions, a problem report and a rating, and the money commands run."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser

from django.contrib.gis.geos import Point
from django.utils import timezone

from couriers.models import Courier
from couriers.services import location_ingest
from jobs.courier_steps import WrongPin, job_arrive_dropoff, job_arrive_pickup, job_deliver
from jobs.courier_steps.steps import job_pick_up
from jobs.lifecycle import job_transition
from jobs.models import Job, JobStatus, RecipientProblem
from jobs.photos import ProofImage
from jobs.tracking.services import (
    recipient_instructions_set,
    recipient_problem_report,
    recipient_rate,
)
from payments.standin import StandinServer
from tests.conftest import client_for
from tests.factories import CourierFactory, ShopUserFactory, UserFactory
from tests.payments.helpers import courier_with_payouts, drain, post_job
from tests.test_tracking_browser import tiny_png

PICKUP = Point(13.4132, 52.5219, srid=4326)
ON_THE_WAY = [(13.4050, 52.5190), (13.3950, 52.5150), (13.3850, 52.5120)]
# About 200 m north of the drop-off (Potsdamer Platz 52.5096, 13.3760): outside the geofence.
DELIVERED_AT = Point(13.3760, 52.5114, srid=4326)
GEOFENCE_REASON = "Entrance is round the corner"


@dataclass
class Scene:
    job: Job
    courier: Courier
    shop_user: object
    problem: RecipientProblem
    before_pickup_at: datetime
    after_delivery_at: datetime


def image(tag: bytes = b"") -> ProofImage:
    data = tiny_png() + tag  # bytes after IEND keep it a valid PNG but a different file
    return ProofImage(data=data, content_type="image/png", sha256=hashlib.sha256(data).hexdigest())


def fix(lng: float, lat: float) -> dict[str, object]:
    return {"lat": lat, "lng": lng, "recorded_at": timezone.now().isoformat(), "accuracy_m": 8}


def delivered_scene(standin: StandinServer) -> Scene:
    """Build the scene (needs the ``standin`` fixture and a zone over central Berlin)."""
    shop_user = ShopUserFactory()
    courier = CourierFactory(user=UserFactory(first_name="Mia", last_name="Lang"))
    courier_with_payouts(courier, standin)
    response = post_job(
        client_for(shop_user),
        pin_required=True,
        tip_minor=150,
        external_ref="ORD-4711",
        recipient={"name": "Robin Recipient", "phone": "+4930222222"},
    )
    assert response.status_code == 201, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    recipient_instructions_set(job=job, text="Ring twice, third floor")

    user = courier.user
    job_transition(job=job.pk, to=JobStatus.ASSIGNED, actor=user, courier=courier)
    job_arrive_pickup(job_pk=job.pk, courier=courier, actor=user, point=PICKUP)
    location_ingest(courier=courier, items=[fix(13.4140, 52.5225)])  # before pickup
    before_pickup_at = timezone.now()
    job_pick_up(job_pk=job.pk, courier=courier, actor=user, point=PICKUP)
    for lng, lat in ON_THE_WAY:
        location_ingest(courier=courier, items=[fix(lng, lat)])
    job_arrive_dropoff(job_pk=job.pk, courier=courier, actor=user, point=DELIVERED_AT)
    try:
        job_deliver(
            job_pk=job.pk,
            courier=courier,
            actor=user,
            point=DELIVERED_AT,
            pin="0000",
            geofence_reason=GEOFENCE_REASON,
        )
    except WrongPin:
        pass
    else:
        raise AssertionError("the wrong PIN was accepted")
    job.refresh_from_db()
    job_deliver(
        job_pk=job.pk,
        courier=courier,
        actor=user,
        point=DELIVERED_AT,
        pin=job.recipient_pin,
        photo=image(b"door"),
        signature=image(b"sign"),
        recipient_name="R. Recipient",
        geofence_reason=GEOFENCE_REASON,
    )
    after_delivery_at = timezone.now()
    location_ingest(courier=courier, items=[fix(13.3700, 52.5080)])  # after delivery
    drain()
    job = Job.objects.select_related("courier__user", "shop", "zone").get(pk=job.pk)
    problem = recipient_problem_report(job=job, reason="damaged", text="The box was crushed")
    recipient_rate(job=job, stars=2, comment="Box damaged")
    job = Job.objects.select_related("courier__user", "shop", "zone").get(pk=job.pk)
    courier.refresh_from_db()
    return Scene(
        job=job,
        courier=courier,
        shop_user=shop_user,
        problem=problem,
        before_pickup_at=before_pickup_at,
        after_delivery_at=after_delivery_at,
    )


# Elements whose edges separate words (table cells, list items, paragraphs).
BLOCK_TAGS = frozenset(
    {"td", "th", "tr", "li", "p", "div", "h2", "h3", "figure", "figcaption", "table", "ul"}
)
VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)


class _DataText(HTMLParser):
    """Collects the text of every element carrying a ``data-*`` attribute, by attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, list[tuple[str, str]]]] = []
        self.open: list[tuple[tuple[str, str], list[str]]] = []
        self.found: dict[tuple[str, str], list[str]] = defaultdict(list)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCK_TAGS or tag == "br":
            self.handle_data(" ")
        if tag in VOID_TAGS:
            return
        keys = [(name[5:], value or "") for name, value in attrs if name.startswith("data-")]
        self.stack.append((tag, keys))
        for key in keys:
            self.open.append((key, []))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID_TAGS or not self.stack:
            return
        if tag in BLOCK_TAGS:
            self.handle_data(" ")
        _, keys = self.stack.pop()
        for _ in keys:
            key, parts = self.open.pop()
            self.found[key].append(" ".join("".join(parts).split()))

    def handle_data(self, data: str) -> None:
        for _, parts in self.open:
            parts.append(data)


def data_text(html: str) -> dict[tuple[str, str], list[str]]:
    """``{("field", "pin"): ["verified, 1 wrong attempt"], ...}`` for a page's HTML."""
    parser = _DataText()
    parser.feed(html)
    return dict(parser.found)
