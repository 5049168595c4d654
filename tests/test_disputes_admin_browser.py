"""The dispute page in a real browser: headless Chromium (Debian's package) driven by
playwright against the real server and the Stripe stand-in.

A support user signs in, opens a dispute and sees the courier's route on the offline map
(the breadcrumb line and the pickup, drop-off and delivery markers), the proof and the
timeline; issues a partial refund split by part; and, once the refund's money command has
run, the ledger balances and holds the refund entry. The browser asks no host but the
server for anything, and the page works under its strict Content-Security-Policy: the
header is there and the browser reports no violation of it. A screenshot of each step
goes to the run's artefacts (TEST_ARTIFACTS_DIR, default ./test-artifacts/, not committed).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connection

from payments.disputes.services import dispute_open
from payments.models import DisputeAction, JournalEntry, JournalLine
from tests.e2e_server import ServerInfo, running_server
from tests.factories import PASSWORD, ServiceZoneFactory
from tests.payments.disputes.admin_helpers import GEOFENCE_REASON, delivered_scene
from tests.payments.disputes.conftest import staff_in
from tests.payments.helpers import drain
from tests.test_tracking_browser import ARTIFACTS, TIMEOUT_MS, browser  # noqa: F401

pytestmark = pytest.mark.e2e

T = TypeVar("T")


@pytest.fixture(scope="module")
def server(django_db_setup: None) -> Iterator[ServerInfo]:
    # Plain http on 127.0.0.1: the admin's session and CSRF cookies must not be Secure-only.
    with running_server(
        database=settings.DATABASES["default"],
        max_body_bytes=1 << 20,
        extra_env={"SESSION_COOKIE_SECURE": "false", "CSRF_COOKIE_SECURE": "false"},
    ) as info:
        yield info


def in_thread(call: Callable[[], T]) -> T:
    """Database work off playwright's event-loop thread, on a connection given back after."""

    def run() -> T:
        try:
            return call()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def shot(page: Any, name: str) -> None:
    folder = ARTIFACTS / "disputes-admin-browser"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _set_up(standin: Any) -> dict[str, Any]:
    ServiceZoneFactory(name="Berlin")
    scene = delivered_scene(standin)
    dispute = dispute_open(
        job=scene.job,
        opener="shop",
        actor=scene.shop_user,
        reason="damaged",
        description="The box arrived crushed.",
        claim_value_minor=1500,
        claim_fee_minor=300,
        claim_tip_minor=0,
    )
    support = staff_in("support")
    return {"dispute": str(dispute.pk), "job": str(scene.job.pk), "username": support.username}


def _books(job_id: str) -> dict[str, Any]:
    """Run the queued money commands as the worker would, then read the ledger."""
    drain()
    per_entry: dict[tuple[int, str], int] = defaultdict(int)
    for entry_id, currency, amount in JournalLine.objects.values_list(
        "entry_id", "currency", "amount_minor"
    ):
        per_entry[(entry_id, currency)] += amount
    refunds = list(JournalEntry.objects.filter(job_id=job_id, kind="refund"))
    return {
        "total": sum(JournalLine.objects.values_list("amount_minor", flat=True)),
        "unbalanced": [key for key, total in per_entry.items() if total != 0],
        "refunds": [
            (
                entry.reference[:3],
                sorted(entry.lines.values_list("account__code", "amount_minor")),
            )
            for entry in refunds
        ],
        "actions": list(
            DisputeAction.objects.filter(kind="partial_refund").values_list(
                "refund_value_minor", "refund_fee_minor", "refund_tip_minor", "note"
            )
        ),
    }


@pytest.mark.django_db(transaction=True)
def test_support_refunds_part_of_a_dispute_and_the_ledger_balances(
    server: ServerInfo,
    browser: Any,  # noqa: F811
    standin: Any,
) -> None:
    facts = in_thread(lambda: _set_up(standin))
    origin = urlsplit(server.http_url).netloc
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    foreign: list[str] = []
    requested: list[str] = []
    errors: list[str] = []

    def guard(route: Any) -> None:
        url = route.request.url
        requested.append(url)
        if urlsplit(url).hostname != "127.0.0.1" and not url.startswith("data:"):
            foreign.append(url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", guard)
    # Every CSP violation the browser sees, as the page's own script would hear of it.
    context.add_init_script(
        "window.__cspViolations = [];"
        "document.addEventListener('securitypolicyviolation', e =>"
        " window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));"
    )
    policies: list[str] = []

    def keep_policy(response: Any) -> None:
        """The policy of each dispute page the browser renders (not the redirects to it)."""
        is_page = urlsplit(response.url).path.endswith("/change/") and response.status == 200
        if is_page and response.request.resource_type == "document":
            policies.append(response.all_headers().get("content-security-policy", ""))

    page = context.new_page()
    page.on("response", keep_policy)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    url = f"{server.http_url}/admin/payments/dispute/{facts['dispute']}/change/"

    page.goto(f"{server.http_url}/admin/login/?next={urlsplit(url).path}")
    page.fill("#id_username", facts["username"])
    page.fill("#id_password", PASSWORD)
    shot(page, "1-sign-in")
    page.click("input[type=submit]")
    page.wait_for_selector("#dispute-map[data-ready=true]", timeout=TIMEOUT_MS)
    assert page.url == url

    assert page.locator("#dispute-map path.route-breadcrumbs").count() == 1
    for marker in ("pickup", "dropoff", "delivery"):
        assert page.locator(f"#dispute-map path.marker-{marker}").count() == 1
    points = page.locator("#dispute-map path.route-breadcrumbs").get_attribute("d")
    assert points.count("L") == 2  # three breadcrumbs: a move and two line segments
    assert page.locator('[data-field="pin"]').inner_text() == "verified, 1 wrong attempt"
    assert page.locator('[data-field="geofence-reason"]').inner_text() == GEOFENCE_REASON
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-field=\"proof-photos\"] img')]"
        ".every(i => i.complete && i.naturalWidth === 8)",
        timeout=TIMEOUT_MS,
    )
    # Nine events from posting to the rating, then the shop's dispute.
    assert page.locator("#dispute-timeline tbody tr").count() == 10
    assert page.locator('#dispute-timeline tr[data-seq="7"] [data-field="where"]').inner_text() == (
        "52.5114, 13.376"
    )
    # Support's forms only: no courier adjustment, compensation or evidence.
    assert page.locator("form.dispute-action").evaluate_all(
        "forms => forms.map(f => f.dataset.action)"
    ) == ["full_refund", "partial_refund", "reject", "request_info"]
    assert policies[-1].startswith("default-src 'none'; script-src 'self';")
    assert page.evaluate("window.__cspViolations") == []
    shot(page, "2-dispute")

    form = page.locator('form[data-action="partial_refund"]')
    form.locator('[name="partial_refund-value_minor"]').fill("400")
    form.locator('[name="partial_refund-fee_minor"]').fill("300")
    form.locator('[name="partial_refund-tip_minor"]').fill("0")
    form.locator('[name="partial_refund-note"]').fill("Crushed box: parcel and fee back")
    shot(page, "3-refund-filled")
    form.locator("input[type=submit]").click()
    page.wait_for_selector(".messagelist .success", timeout=TIMEOUT_MS)
    assert page.locator(".messagelist .success").inner_text() == (
        "Refund part: done (Partial refund)."
    )
    assert page.locator('[data-field="state"]').inner_text() == "resolved"
    shot(page, "4-refunded")

    books = in_thread(lambda: _books(facts["job"]))
    assert books["total"] == 0
    assert books["unbalanced"] == []
    assert books["refunds"] == [("re_", [("refunds", 700), ("stripe_clearing", -700)])]
    assert books["actions"] == [(400, 300, 0, "Crushed box: parcel and fee back")]

    page.reload()
    page.wait_for_selector("#dispute-map[data-ready=true]", timeout=TIMEOUT_MS)
    assert page.locator('#dispute-money [data-entry-kind="refund"]').count() == 2
    assert page.locator('[data-field="ledger-balanced"]').count() == 1
    assert page.locator('[data-field="refunded"]').inner_text() == (
        "value 400, fee 300, tip 0 = 700 eur"
    )
    assert page.evaluate("window.__cspViolations") == []
    shot(page, "5-ledger")

    assert foreign == []
    assert requested
    assert all(urlsplit(u).netloc == origin for u in requested if not u.startswith("data:"))
    assert errors == []
    assert len(policies) >= 3  # the page, the page after the refund, the reload
    assert len(set(policies)) == 1
    context.close()
