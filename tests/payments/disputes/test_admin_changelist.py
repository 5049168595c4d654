"""The disputes changelist: filters (state, reason, opener, zone, SLA breached, amount),
search (job id, external ref, shop, courier), and who sees the disputes admin at all."""

from __future__ import annotations

import pytest
from django.utils import timezone

from jobs.models import JobStatus
from payments.disputes.services import dispute_open, dispute_reject, disputes_sweep
from payments.models import Dispute, DisputeAction
from tests.factories import (
    CourierFactory,
    JobFactory,
    ServiceZoneFactory,
    ShopFactory,
    ShopUserFactory,
    UserFactory,
)
from tests.payments.disputes.conftest import staff_in

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/payments/dispute/"


def _delivered(shop, courier, zone, ref: str):
    now = timezone.now()
    return JobFactory(
        shop=shop,
        courier=courier,
        zone=zone,
        status=JobStatus.DELIVERED,
        tip_minor=100,
        package_value_minor=20000,
        external_ref=ref,
        delivered_at=now,
        ended_at=now,
    )


@pytest.fixture
def disputes(settings, support) -> dict[str, Dispute]:
    """Four disputes that differ in every filtered field."""
    berlin = ServiceZoneFactory(name="Berlin")
    hamburg = ServiceZoneFactory(name="Hamburg")
    flowers = ShopUserFactory(shop=ShopFactory(name="Blumen Haus"))
    books = ShopUserFactory(shop=ShopFactory(name="Buchladen Nord"))
    mia = CourierFactory(user=UserFactory(username="mia", first_name="Mia", last_name="Lang"))
    ali = CourierFactory(user=UserFactory(username="ali", first_name="Ali", last_name="Demir"))
    jobs = {
        "flowers": _delivered(flowers.shop, mia, berlin, "ORD-1001"),
        "books": _delivered(books.shop, ali, hamburg, "ORD-2002"),
        "late": _delivered(flowers.shop, ali, berlin, "ORD-3003"),
        "big": _delivered(books.shop, mia, hamburg, "ORD-4004"),
    }

    def open_(job, opener, actor, reason, value, fee, description=""):
        return dispute_open(
            job=job,
            opener=opener,
            actor=actor,
            reason=reason,
            description=description,
            claim_value_minor=value,
            claim_fee_minor=fee,
            claim_tip_minor=0,
        )

    found = {
        "damaged": open_(jobs["flowers"], "shop", flowers, "damaged", 1500, 300),
        "never": open_(jobs["books"], "recipient", None, "never_delivered", 0, 600),
        "courier": open_(jobs["late"], "courier", ali.user, "other", 0, 0, "Pay cut."),
    }
    settings.DISPUTE_REVIEW_SLA_HOURS = 0
    found["big"] = open_(jobs["big"], "shop", books, "missing_items", 20000, 636)
    settings.DISPUTE_REVIEW_SLA_HOURS = 72
    disputes_sweep(now=timezone.now())
    dispute_reject(
        dispute=found["never"], actor=support, reason="Delivered on camera.", idempotency_key="t:r"
    )
    for dispute in found.values():
        dispute.refresh_from_db()
    return found


def listed(client, query: str = "") -> set:
    response = client.get(CHANGELIST + query)
    assert response.status_code == 200
    return {dispute.pk for dispute in response.context["cl"].result_list}


def test_filters(client, support, disputes) -> None:
    d = disputes
    berlin = d["damaged"].job.zone_id
    client.force_login(support)

    assert listed(client) == {x.pk for x in d.values()}
    assert listed(client, "?state__exact=rejected") == {d["never"].pk}
    assert listed(client, "?state__exact=awaiting_courier") == {d["damaged"].pk, d["big"].pk}
    assert listed(client, "?reason__exact=missing_items") == {d["big"].pk}
    assert listed(client, "?opener__exact=recipient") == {d["never"].pk}
    assert listed(client, "?opener__exact=shop") == {d["damaged"].pk, d["big"].pk}
    assert listed(client, f"?job__zone__id__exact={berlin}") == {
        d["damaged"].pk,
        d["courier"].pk,
    }
    assert listed(client, "?is_sla_breached__exact=1") == {d["big"].pk}
    assert listed(client, "?is_sla_breached__exact=0") == {
        d["damaged"].pk,
        d["never"].pk,
        d["courier"].pk,
    }
    assert listed(client, "?claim=lt1000") == {d["never"].pk, d["courier"].pk}
    assert listed(client, "?claim=1000-4999") == {d["damaged"].pk}
    assert listed(client, "?claim=5000-19999") == set()
    assert listed(client, "?claim=gte20000") == {d["big"].pk}
    assert listed(client, "?claim=lt1000&opener__exact=courier") == {d["courier"].pk}


def test_the_zone_filter_offers_only_zones_with_disputes(client, support, disputes) -> None:
    ServiceZoneFactory(name="Munich")
    client.force_login(support)

    response = client.get(CHANGELIST)

    zone_filter = next(spec for spec in response.context["cl"].filter_specs if spec.title == "zone")
    assert sorted(name for _, name in zone_filter.lookup_choices) == ["Berlin", "Hamburg"]


def test_search(client, support, disputes) -> None:
    d = disputes
    client.force_login(support)
    job_id = str(d["never"].job_id)

    assert listed(client, f"?q={job_id}") == {d["never"].pk}
    assert listed(client, f"?q={job_id[:13]}") == {d["never"].pk}
    assert listed(client, "?q=ORD-3003") == {d["courier"].pk}
    assert listed(client, "?q=Buchladen") == {d["never"].pk, d["big"].pk}
    assert listed(client, "?q=Mia Lang") == {d["damaged"].pk, d["big"].pk}
    assert listed(client, "?q=ali") == {d["never"].pk, d["courier"].pk}
    assert listed(client, "?q=nothing-like-this") == set()


def test_the_list_shows_each_disputes_facts(client, support, disputes) -> None:
    client.force_login(support)

    response = client.get(CHANGELIST + "?claim=gte20000")
    html = response.content.decode()

    assert response.status_code == 200
    assert '<td class="field-claim_total">20636</td>' in html
    assert '<td class="field-shop">Buchladen Nord</td>' in html
    assert '<td class="field-courier">Mia Lang</td>' in html


@pytest.mark.parametrize("group", ["support", "finance", "superuser"])
def test_dispute_staff_see_the_disputes_admin(client, disputes, group) -> None:
    user = (
        UserFactory(is_staff=True, is_superuser=True) if group == "superuser" else staff_in(group)
    )
    client.force_login(user)

    index = client.get("/admin/")
    page = client.get(f"{CHANGELIST}{disputes['damaged'].pk}/change/")

    assert index.status_code == 200
    assert f'href="{CHANGELIST}"' in index.content.decode()
    assert listed(client) == {x.pk for x in disputes.values()}
    assert page.status_code == 200


def test_other_staff_see_no_disputes_admin_at_all(client, disputes) -> None:
    dispute = disputes["damaged"]
    actions = DisputeAction.objects.count()
    client.force_login(staff_in(None))

    index = client.get("/admin/")
    changelist = client.get(CHANGELIST)
    page = client.get(f"{CHANGELIST}{dispute.pk}/change/")
    act = client.post(
        f"{CHANGELIST}{dispute.pk}/act/reject/",
        {"reject-reason": "no", "reject-idempotency_key": f"admin:{dispute.pk}:reject:{'a' * 32}"},
    )

    assert index.status_code == 200
    assert f'href="{CHANGELIST}"' not in index.content.decode()
    assert (changelist.status_code, page.status_code, act.status_code) == (403, 403, 403)
    dispute.refresh_from_db()
    assert dispute.state == "awaiting_courier"
    assert DisputeAction.objects.count() == actions


def test_non_staff_are_sent_to_the_login(client, disputes) -> None:
    client.force_login(ShopUserFactory())

    response = client.get(CHANGELIST)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_nobody_adds_changes_or_deletes_a_dispute_here(client, finance, disputes) -> None:
    dispute = disputes["damaged"]
    client.force_login(finance)

    add = client.get(CHANGELIST + "add/")
    delete = client.post(f"{CHANGELIST}{dispute.pk}/delete/", {"post": "yes"})
    change = client.post(f"{CHANGELIST}{dispute.pk}/change/", {"state": "resolved"})
    listing = client.get(CHANGELIST).content.decode()

    assert add.status_code == 403
    assert delete.status_code == 403
    assert change.status_code == 405
    assert "Add dispute" not in listing
    dispute.refresh_from_db()
    assert dispute.state == "awaiting_courier"
    assert Dispute.objects.count() == 4
