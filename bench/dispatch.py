"""Dispatch throughput: jobs posted, offered and accepted per second, couriers racing.

Run: .venv/bin/python -m bench.dispatch [--couriers 10000] [--jobs 2000] [--posters 2]
     [--racers 4] [--mode broadcast] [--broadcast-size 5] [--payments]

Bench database only (see bench/common.py). Loads ``--couriers`` available couriers over
the city box, then runs, all at once against the real database:

- ``--posters`` processes, each posting its share of jobs (insert + first event, as
  ``job_post`` does, which also queues the dispatch task on Redis) and running the
  dispatch pass for each right away (what the queued task does on a worker);
- ``--racers`` processes that each play a slice of the couriers (courier id modulo
  racers): they poll their couriers' open offers and accept every one at once through
  ``offer_accept``. In broadcast mode the couriers offered one job sit in different
  processes, so they race for it; the losers get ``offer_no_longer_available``.

With ``--payments`` each post first authorises the job's payment as ``job_post`` does (the
payments hook: a manual-capture PaymentIntent at a loopback Stripe stand-in started by the
bench, and the job's payment row); run once with and once without to see its cost.

At the end it checks that nothing was double-assigned: no courier with two active jobs,
no job with two accepted offers, every assigned job's courier holds its accepted offer,
and every busy courier holds exactly one job.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import time
import uuid
from typing import Any

from bench import common

POLL_SECONDS = 0.02


def _reset_connections() -> None:
    from django.db import connections

    from payments.gateway.stripe_gateway import _gateway_for

    for connection in connections.all(initialized_only=True):
        connection.close()
    # A forked process must not share the parent's HTTP connections to Stripe.
    _gateway_for.cache_clear()


def prepare(couriers: int, *, payments: bool) -> tuple[int, int]:
    """Fresh couriers, one shop and one zone over the city box; returns (shop, zone) ids."""
    from django.contrib.gis.geos import MultiPolygon, Polygon
    from django.db import connection

    from jobs.models import ServiceZone
    from marketplace.models import Shop

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE jobs_offer, jobs_jobevent, jobs_webhookdelivery, jobs_job, "
            "payments_jobpayment, payments_shopbilling, django_q_schedule CASCADE"
        )
    common.truncate_couriers()
    common.bulk_load_couriers(couriers)
    with connection.cursor() as cursor:
        # Every courier answers; acceptance rates only reorder candidates.
        cursor.execute("UPDATE couriers_courier SET capacity = 'xl', acceptance_rate = 1")
    zone, _ = ServiceZone.objects.get_or_create(
        name="bench city",
        defaults={"area": MultiPolygon(Polygon.from_bbox(common.CITY_BOX), srid=4326)},
    )
    shop, _ = Shop.objects.get_or_create(name="bench shop")
    if payments:
        from payments.billing import shop_payment_method_set

        shop_payment_method_set(shop=shop, actor=None, payment_method_id="pm_card_visa")
    return shop.pk, zone.pk


def post_and_dispatch(args: tuple[int, int, int, int, int, bool]) -> dict[str, Any]:
    """One poster: post ``count`` jobs and run each one's dispatch pass."""
    index, count, shop_pk, zone_pk, seed, payments = args
    _reset_connections()
    from django.contrib.gis.geos import Point
    from django.db import transaction

    from jobs.dispatch import dispatch_job
    from jobs.hooks import hook_run
    from jobs.lifecycle import job_record_creation
    from jobs.models import Job, new_tracking_salt
    from jobs.tracking.tokens import tracking_hash_for

    west, south, east, north = common.CITY_BOX
    rng = random.Random(seed + index)
    post_ms, dispatch_ms, authorise_ms, offers, outcomes = [], [], [], 0, {}
    for _ in range(count):
        lng = rng.uniform(west + 0.075, east - 0.075)
        lat = rng.uniform(south + 0.045, north - 0.045)
        started = time.perf_counter()
        job_pk, salt = uuid.uuid4(), new_tracking_salt()
        job = Job(
            id=job_pk,
            tracking_salt=salt,
            tracking_token_hash=tracking_hash_for(job_pk=job_pk, salt=salt),
            last_event_seq=1,  # as job_post inserts it
            shop_id=shop_pk,
            zone_id=zone_pk,
            pickup_address="bench pickup",
            pickup_point=Point(lng, lat, srid=4326),
            dropoff_address="bench dropoff",
            dropoff_point=Point(lng + 0.01, lat + 0.01, srid=4326),
            package_size="small",
            package_weight_g=1000,
            currency="eur",
            distance_m=1500,
            base_minor=300,
            distance_fee_minor=180,
            size_fee_minor=0,
            surge_fee_minor=0,
            total_minor=480,
            courier_payout_minor=384,
            platform_fee_minor=96,
        )
        if payments:
            hook_run("authorise", job=job)  # as job_post does, before the insert
            authorise_ms.append((time.perf_counter() - started) * 1000)
        with transaction.atomic():
            job.save(force_insert=True)
            job_record_creation(job=job, actor=None)
        posted = time.perf_counter()
        result = dispatch_job(job_pk=job.pk)
        done = time.perf_counter()
        post_ms.append((posted - started) * 1000)
        dispatch_ms.append((done - posted) * 1000)
        offers += len(result.offers)
        outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
    return {
        "post_ms": post_ms,
        "dispatch_ms": dispatch_ms,
        "authorise_ms": authorise_ms,
        "offers": offers,
        "outcomes": outcomes,
    }


def race_offers(args: tuple[int, int, float, Any]) -> dict[str, Any]:
    """One racer: accept every open offer to couriers ``id % racers == index``."""
    index, racers, stop_at, posters_done = args
    _reset_connections()
    from django.db.models import F
    from django.utils import timezone

    from couriers.models import Courier
    from jobs.dispatch import OfferNoLongerAvailable, offer_accept
    from jobs.models import Offer, OfferStatus

    couriers: dict[int, Courier] = {}
    accepted, refused, accept_ms, offer_to_accept_ms = 0, 0, [], []
    seen: set[Any] = set()
    while time.time() < stop_at:
        # Open offers are few at any moment (one per courier), so the ones already tried
        # are skipped here rather than in SQL.
        open_offers = [
            row
            for row in Offer.objects.annotate(slot=F("courier_id") % racers)
            .filter(slot=index, status=OfferStatus.PENDING, expires_at__gt=timezone.now())
            .order_by("created_at")
            .values_list("pk", "courier_id", "created_at")
            if row[0] not in seen
        ]
        if not open_offers:
            # Done once the posters are and no offer is open anywhere (a job whose couriers
            # were all engaged waits for its retry, which this bench does not run).
            if posters_done.is_set() and not (
                Offer.objects.filter(
                    status=OfferStatus.PENDING, expires_at__gt=timezone.now()
                ).exists()
            ):
                break
            time.sleep(POLL_SECONDS)
            continue
        for offer_pk, courier_pk, created_at in open_offers:
            seen.add(offer_pk)
            courier = couriers.get(courier_pk)
            if courier is None:
                courier = couriers[courier_pk] = Courier.objects.select_related("user").get(
                    pk=courier_pk
                )
            started = time.perf_counter()
            try:
                offer_accept(offer_pk=offer_pk, courier=courier)
            except OfferNoLongerAvailable:
                refused += 1
                continue
            finally:
                accept_ms.append((time.perf_counter() - started) * 1000)
            accepted += 1
            offer_to_accept_ms.append((timezone.now() - created_at).total_seconds() * 1000)
    return {
        "accepted": accepted,
        "refused": refused,
        "accept_ms": accept_ms,
        "offer_to_accept_ms": offer_to_accept_ms,
    }


def integrity() -> dict[str, int]:
    """Counts that must all be zero."""
    from django.db import connection

    checks = {
        "couriers_with_two_active_jobs": """
            SELECT count(*) FROM (
                SELECT courier_id FROM jobs_job
                WHERE status IN ('assigned', 'at_pickup', 'picked_up', 'at_dropoff',
                                 'failed', 'returning')
                GROUP BY courier_id HAVING count(*) > 1) t""",
        "jobs_with_two_accepted_offers": """
            SELECT count(*) FROM (
                SELECT job_id FROM jobs_offer WHERE status = 'accepted'
                GROUP BY job_id HAVING count(*) > 1) t""",
        "assigned_jobs_without_their_accepted_offer": """
            SELECT count(*) FROM jobs_job j
            WHERE j.status = 'assigned' AND NOT EXISTS (
                SELECT 1 FROM jobs_offer o WHERE o.job_id = j.id
                AND o.status = 'accepted' AND o.courier_id = j.courier_id)""",
        "busy_couriers_not_holding_one_job": """
            SELECT count(*) FROM couriers_courier c
            WHERE c.status = 'busy' AND (
                SELECT count(*) FROM jobs_job j
                WHERE j.courier_id = c.id AND j.status = 'assigned') <> 1""",
        "open_offers_to_assigned_jobs": """
            SELECT count(*) FROM jobs_offer o JOIN jobs_job j ON j.id = o.job_id
            WHERE o.status = 'pending' AND j.status <> 'pending'""",
    }
    with connection.cursor() as cursor:
        result = {}
        for name, sql in checks.items():
            cursor.execute(sql)
            result[name] = cursor.fetchone()[0]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--couriers", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=2_000)
    parser.add_argument("--posters", type=int, default=2)
    parser.add_argument("--racers", type=int, default=4)
    parser.add_argument("--mode", choices=["broadcast", "sequential"], default="broadcast")
    parser.add_argument("--broadcast-size", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument(
        "--payments", action="store_true", help="authorise each job at a loopback Stripe stand-in"
    )
    options = parser.parse_args()

    import os

    # One plain connection per process: a psycopg pool made before fork would be shared.
    os.environ["DB_POOL_MAX_SIZE"] = "0"
    os.environ["DISPATCH_MODE"] = options.mode
    os.environ["DISPATCH_BROADCAST_SIZE"] = str(options.broadcast_size)
    if options.payments:
        from payments.standin import StandinServer

        standin = StandinServer(api_key="sk_test_bench")
        os.environ.update(
            STRIPE_SECRET_KEY="sk_test_bench",
            STRIPE_API_BASE=standin.start(),
            STRIPE_STANDIN="true",
        )
    common.setup()
    from django.conf import settings
    from django.db.models import Count
    from django_q.brokers import get_broker

    from jobs.models import Job, Offer

    print(common.machine(), flush=True)
    print(
        f"mode {settings.DISPATCH_MODE}, broadcast size {settings.DISPATCH_BROADCAST_SIZE}, "
        f"{options.couriers:,} couriers, {options.jobs:,} jobs, {options.posters} posters, "
        f"{options.racers} racers, payments {'on (stand-in)' if options.payments else 'off'}",
        flush=True,
    )
    shop_pk, zone_pk = prepare(options.couriers, payments=options.payments)
    _reset_connections()

    context = mp.get_context("fork")
    per_poster = [options.jobs // options.posters] * options.posters
    per_poster[0] += options.jobs - sum(per_poster)
    stop_at = time.time() + options.timeout
    started = time.perf_counter()
    manager = context.Manager()
    posters_done = manager.Event()
    with context.Pool(options.posters + options.racers) as pool:
        racing = pool.map_async(
            race_offers, [(i, options.racers, stop_at, posters_done) for i in range(options.racers)]
        )
        posting = pool.map_async(
            post_and_dispatch,
            [(i, n, shop_pk, zone_pk, 7, options.payments) for i, n in enumerate(per_poster)],
        )
        posters = posting.get()
        posted_at = time.perf_counter()
        posters_done.set()
        racers = racing.get()
    finished = time.perf_counter()

    statuses = dict(Job.objects.values_list("status").annotate(n=Count("pk")))
    offer_statuses = dict(Offer.objects.values_list("status").annotate(n=Count("pk")))
    checks = integrity()
    get_broker().purge_queue()  # the dispatch tasks posting queued; the bench ran them inline

    post_ms = [v for p in posters for v in p["post_ms"]]
    dispatch_ms = [v for p in posters for v in p["dispatch_ms"]]
    accept_ms = [v for r in racers for v in r["accept_ms"]]
    offer_to_accept = [v for r in racers for v in r["offer_to_accept_ms"]]
    offers = sum(p["offers"] for p in posters)
    accepted = sum(r["accepted"] for r in racers)
    refused = sum(r["refused"] for r in racers)
    outcomes: dict[str, int] = {}
    for p in posters:
        for name, n in p["outcomes"].items():
            outcomes[name] = outcomes.get(name, 0) + n
    elapsed = finished - started
    post_elapsed = posted_at - started

    def fmt(values: list[float]) -> str:
        s = common.summary(values)
        return f"p50 {s['p50']:.1f} ms, p99 {s['p99']:.1f} ms"

    print(f"jobs by status: {statuses}", flush=True)
    print(f"offers by status: {offer_statuses}", flush=True)
    print(f"first-pass outcomes: {outcomes}", flush=True)
    print(f"posted + first pass: {options.jobs / post_elapsed:,.0f} jobs/s ({post_elapsed:.1f} s)")
    print(f"  post (insert + first event): {fmt(post_ms)}")
    print(f"  dispatch pass: {fmt(dispatch_ms)}")
    authorise_ms = [v for p in posters for v in p["authorise_ms"]]
    if authorise_ms:
        print(f"  of which authorise (stand-in round trip + payment row): {fmt(authorise_ms)}")
    print(f"offers made: {offers:,} ({offers / post_elapsed:,.0f}/s)")
    print(
        f"accepted: {accepted:,} ({accepted / elapsed:,.0f}/s over {elapsed:.1f} s), "
        f"refused (lost the race): {refused:,}"
    )
    print(f"  accept call: {fmt(accept_ms)}")
    print(f"  offer created -> accepted: {fmt(offer_to_accept)}")
    print(f"integrity (all must be 0): {checks}", flush=True)
    if any(checks.values()) or accepted != statuses.get("assigned", 0):
        raise SystemExit("DOUBLE ASSIGNMENT OR LOST ACCEPT: see the counts above")


if __name__ == "__main__":
    main()
