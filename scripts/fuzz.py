"""``./dev fuzz``: schemathesis against the live server, as anonymous, shop and courier.

Creates a scratch database (``fuzz_marketplace``, or ``fuzz_marketplace_N`` with
``TEST_ISOLATION_SLOT=N``) the way the test suite does, migrates it, starts the Stripe
stand-in (``payments/standin/``), seeds a service zone, a shop with a saved card and a few
jobs, a courier holding another shop's job, starts uvicorn against it
(``tests/e2e_server.py``), and runs ``schemathesis run --checks all`` on ``/api/schema/``
once per identity. Extra arguments go to every schemathesis run (e.g.
``--max-examples 20``). Exits non-zero when any run reports a failure; prints one totals
line per run and a summary at the end.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ["DJANGO_SETTINGS_MODULE"] = "marketplace.test_settings"
# The fuzzer sends thousands of requests a minute from one address; the throttles are
# documented (429) but would otherwise answer most of the run.
for _scope in ("ANON", "USER", "AUTH"):
    os.environ[f"THROTTLE_{_scope}"] = "1000000/min"
for _scope in ("TOKEN", "ADDRESS"):
    os.environ[f"TRACKING_RATE_PER_{_scope}"] = "1000000/min"
STRIPE_SECRET_KEY = "sk_test_fuzz"
STRIPE_WEBHOOK_SECRETS = {
    "STRIPE_WEBHOOK_SECRET": "whsec_fuzz_platform",
    "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_fuzz_connect",
}
MAX_BODY_BYTES = 1_048_576
# One JSON report per identity, kept for reading after the run.
REPORTS = ROOT / ".fuzz-report"
CONFIG = ROOT / "scripts" / "schemathesis.toml"
# What JSON Schema cannot state (integer literals past 64 bits are refused anywhere).
HOOKS = ROOT / "scripts" / "schemathesis_hooks.py"


@dataclasses.dataclass(frozen=True)
class RunTotals:
    identity: str
    operations: int
    cases: int
    failures: int
    errors: int
    seconds: float
    # OpenAPI links the stateful phase followed, of those in the schema (console only).
    links_covered: int | None = None
    links_total: int | None = None

    def line(self) -> str:
        links = f" links={self.links_covered}/{self.links_total}" if self.links_total else ""
        return (
            f"{self.identity:<9} operations={self.operations} cases={self.cases} "
            f"failures={self.failures} errors={self.errors} time={self.seconds:.0f}s{links}"
        )


# schemathesis prints "API Links:    12 covered / 366 selected / 366 total" after its
# stateful phase; its JSON report does not have the numbers.
LINKS_LINE = re.compile(r"API Links:\s+(\d+) covered / \d+ selected / (\d+) total")


def _scratch_database() -> tuple[dict, str]:
    """Create and migrate the scratch database: its settings entry, and the name it replaced."""
    import django
    from django.conf import settings

    suffix = (
        f"_{os.environ['TEST_ISOLATION_SLOT']}" if os.environ.get("TEST_ISOLATION_SLOT") else ""
    )
    settings.DATABASES["default"]["TEST"] = {"NAME": f"fuzz_marketplace{suffix}"}
    django.setup()
    from django.db import connection

    original_name = settings.DATABASES["default"]["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    return dict(settings.DATABASES["default"]), original_name


def _stripe_standin() -> tuple[Any, dict[str, str]]:
    """The Stripe stand-in on a free loopback port, and the settings that point at it.

    The payment endpoints then do what they do under ``./dev run`` without keys, instead
    of answering every request 503 ``payment_unavailable``.
    """
    from django.conf import settings

    from payments.standin import StandinServer

    standin = StandinServer(api_key=STRIPE_SECRET_KEY)
    stripe = {
        "STRIPE_API_BASE": standin.start(),
        "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
        "STRIPE_STANDIN": "true",
        **STRIPE_WEBHOOK_SECRETS,
    }
    for name, value in stripe.items():
        setattr(settings, name, value if name != "STRIPE_STANDIN" else True)
    return standin, stripe


def _seed() -> dict[str, str]:
    """A zone, a shop with a card and jobs, a courier with another shop's job; tokens."""
    from django.contrib.gis.geos import Point
    from django.core.management import call_command

    from couriers.models import Vehicle
    from couriers.services import courier_register, courier_set_availability
    from jobs.lifecycle import job_transition
    from jobs.models import JobStatus
    from marketplace.services import shop_register
    from payments.billing import shop_payment_method_set

    call_command("seed_demo_zone", stdout=open(os.devnull, "w"))  # noqa: SIM115
    shop_user, shop, shop_token = shop_register(
        username="fuzz-shop",
        password="fuzz-shop-password-1",
        shop_name="Fuzz Shop",
        default_pickup_address="Alexanderplatz 1, Berlin",
        default_pickup_point=Point(13.4132, 52.5219, srid=4326),
    )
    _, courier, courier_token = courier_register(
        username="fuzz-courier", password="fuzz-courier-password-1", vehicle=Vehicle.BIKE
    )
    courier_set_availability(courier=courier, online=True)
    shop_payment_method_set(shop=shop, actor=shop_user, payment_method_id="pm_card_visa")
    # The courier's job is another shop's: the shop's run (before the courier's) cancels
    # what its links reach, and would leave the courier nothing to do.
    other_user, other_shop, other_token = shop_register(
        username="fuzz-other-shop",
        password="a second fuzzing shop 2",
        shop_name="Fuzz Other Shop",
        default_pickup_address="Alexanderplatz 1, Berlin",
        default_pickup_point=Point(13.4132, 52.5219, srid=4326),
    )
    shop_payment_method_set(shop=other_shop, actor=other_user, payment_method_id="pm_card_visa")
    _seed_jobs(token=shop_token.key, count=SEED_JOBS)
    (courier_job,) = _seed_jobs(token=other_token.key, count=1)
    job_transition(job=courier_job, to=JobStatus.ASSIGNED, actor=courier.user, courier=courier)
    return {"anonymous": "", "shop": shop_token.key, "courier": courier_token.key}


# Central Berlin, inside the demo zone: a trip the fuzzer's random points almost never make.
SEED_TRIP = {
    "pickup": {"address": "Alexanderplatz 1, Berlin", "lat": 52.5219, "lng": 13.4132},
    "dropoff": {"address": "Potsdamer Platz 1, Berlin", "lat": 52.5096, "lng": 13.3760},
    "package": {"size": "small", "weight_g": 1200, "value_minor": 4500},
}
SEED_JOBS = 3


def _seed_jobs(*, token: str, count: int) -> list[str]:
    """Jobs a shop posts through the API, as its app would: their ids.

    The stateful phase follows links from answers, and its own job posts rarely succeed
    (a random point is seldom inside the zone), so without these the shop's job list and
    the courier's would stay empty and the links from them lead nowhere.
    """
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    job_ids = []
    for _ in range(count):
        response = client.post("/api/v1/jobs/", SEED_TRIP, format="json", HTTP_HOST="127.0.0.1")
        if response.status_code != 201:
            raise RuntimeError(f"seeding a job failed: {response.status_code} {response.content!r}")
        job_ids.append(response.json()["id"])
    return job_ids


def _run(identity: str, token: str, base_url: str, extra: list[str], report: Path) -> RunTotals:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(CONFIG),
        "run",
        f"{base_url}/api/schema/",
        "--url",
        base_url,
        "--checks",
        "all",
        # One worker: with more, schemathesis' threads trip a CPython 3.11 AST bug
        # ("AST constructor recursion depth mismatch") now and then.
        "--workers",
        "1",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        *([] if not token else ["--header", f"Authorization: Token {token}"]),
        *extra,
    ]
    print(f"\n==> schemathesis as {identity}", flush=True)
    started = time.monotonic()
    links: tuple[int, int] | None = None
    with subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as process:
        assert process.stdout is not None
        for output in process.stdout:
            print(output, end="", flush=True)
            found = LINKS_LINE.search(output)
            if found:
                links = (int(found[1]), int(found[2]))
    seconds = time.monotonic() - started
    totals = _totals(identity, report, seconds)
    if links:
        totals = dataclasses.replace(totals, links_covered=links[0], links_total=links[1])
    return totals


def _totals(identity: str, report: Path, seconds: float) -> RunTotals:
    """Read schemathesis' JSON report: operations tested, cases generated, failures found."""
    data = json.loads(report.read_text())
    return RunTotals(
        identity=identity,
        operations=data["operations"]["tested"],
        cases=data["test_cases"]["generated"],
        failures=sum(failure["count"] for failure in data["failures"]),
        errors=len(data["errors"]),
        seconds=seconds,
    )


def main(argv: list[str]) -> int:
    from django.db import connection

    from tests.e2e_server import running_server

    database, original_name = _scratch_database()
    started = time.monotonic()
    results: list[RunTotals] = []
    standin, stripe = _stripe_standin()
    try:
        tokens = _seed()
        with running_server(
            database=database, max_body_bytes=MAX_BODY_BYTES, extra_env=stripe
        ) as server:
            REPORTS.mkdir(exist_ok=True)
            for identity, token in tokens.items():
                report = REPORTS / f"{identity}.json"
                results.append(_run(identity, token, server.http_url, argv, report))
    finally:
        standin.stop()
        connection.creation.destroy_test_db(original_name, verbosity=0)
    load = os.getloadavg()
    print(f"\n==> totals ({platform.machine()}, {os.cpu_count()} CPUs, load {load[0]:.1f})")
    for result in results:
        print("  " + result.line())
    print(f"  all runs: {time.monotonic() - started:.0f}s")
    return 1 if any(r.failures or r.errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
