"""Dispatch throughput: jobs posted, offered and accepted per second, couriers racing.

Run: .venv/bin/python -m bench.dispatch [--couriers 10000] [--jobs 2000] [--posters 2]
     [--racers 4] [--mode broadcast] [--broadcast-size 5] [--payments both|on|off]
     [--rounds 2]

Bench database only (see bench/common.py). Loads ``--couriers`` available couriers over
the city box, then runs, all at once against the real database:

- ``--posters`` processes, each posting its share of jobs (insert + first event, as
  ``job_post`` does, which also queues the dispatch task on Redis) and running the
  dispatch pass for each right away (what the queued task does on a worker);
- ``--racers`` processes that each play a slice of the couriers (courier id modulo
  racers): each subscribes to its couriers' socket groups on Redis (the channels a
  courier socket listens on) before the first post, gets every ``offer`` frame pushed
  as the app sends it, and accepts it at once through ``offer_accept``. In broadcast
  mode the couriers offered one job sit in different processes, so they race for it;
  the losers get ``offer_no_longer_available``.

Payments: with payments on, each post first authorises the job's payment as ``job_post``
does (the payments hook: a manual-capture PaymentIntent at a loopback Stripe stand-in
started by the bench, and the job's payment row). ``--payments both`` (the default) runs
phases with payments off and on in one invocation, alternating off, on, on, off, ... for
``--rounds`` pairs, on the same couriers (reset between phases), and prints each mode's
figures pooled over its phases, the on/off ratios and where the extra time of a post goes
(the stand-in call, the payment rows, the job's own insert).

At the end it checks that nothing was double-assigned: no courier with two active jobs,
no job with two accepted offers, every assigned job's courier holds its accepted offer,
and every busy courier holds exactly one job.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import time
import uuid
from typing import Any

from bench import common
from bench.ingest import cpu_seconds


def _reset_connections() -> None:
    from django.db import connections

    from payments.gateway.stripe_gateway.client import _gateway_for

    for connection in connections.all(initialized_only=True):
        connection.close()
    # A forked process must not share the parent's HTTP connections to Stripe.
    _gateway_for.cache_clear()


def _cpu_now() -> tuple[float, float]:
    """CPU seconds used so far by this process and by its PostgreSQL backend.

    Both are what a job costs whatever else runs on the machine (wall time is not, on two
    shared cores): the throughput the cores allow is about cores / CPU per job.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    return time.process_time(), cpu_seconds([backend])


def _cpu_used(start: tuple[float, float]) -> dict[str, float]:
    own, backend = _cpu_now()
    return {"python": own - start[0], "postgres": backend - start[1]}


JOB_TABLES = (
    "jobs_offer, jobs_jobevent, jobs_webhookdelivery, jobs_job, payments_jobpayment, "
    "payments_moneycommand, django_q_schedule"
)


def prepare(couriers: int, *, payments: bool) -> tuple[int, int]:
    """Fresh couriers, one shop and one zone over the city box; returns (shop, zone) ids."""
    from django.contrib.gis.geos import MultiPolygon, Polygon
    from django.db import connection

    from jobs.models import ServiceZone
    from marketplace.models import Shop

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {JOB_TABLES}, payments_shopbilling CASCADE")
    common.truncate_couriers()
    common.bulk_load_couriers(couriers)
    reset_phase()
    zone, _ = ServiceZone.objects.get_or_create(
        name="bench city",
        defaults={"area": MultiPolygon(Polygon.from_bbox(common.CITY_BOX), srid=4326)},
    )
    shop, _ = Shop.objects.get_or_create(name="bench shop")
    if payments:
        from payments.billing import shop_payment_method_set

        shop_payment_method_set(shop=shop, actor=None, payment_method_id="pm_card_visa")
    return shop.pk, zone.pk


def reset_phase() -> None:
    """Before a phase: no jobs, offers or payments; every courier available again."""
    from django.db import connection
    from django_q.brokers import get_broker

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {JOB_TABLES} CASCADE")
        # Every courier answers; acceptance rates only reorder candidates.
        cursor.execute(
            "UPDATE couriers_courier SET status = 'available', capacity = 'xl', acceptance_rate = 1"
        )
        cursor.execute("VACUUM ANALYZE couriers_courier")
    get_broker().purge_queue()


def _timed_gateway_authorise(times: list[float]) -> None:
    """Time each authorise call to the stand-in (the HTTP round trip and the stand-in)."""
    from payments.gateway import get_gateway

    gateway = get_gateway()
    call = gateway.payment_intent_authorise

    def timed(**kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return call(**kwargs)
        finally:
            times.append((time.perf_counter() - started) * 1000)

    gateway.payment_intent_authorise = timed


def post_and_dispatch(args: tuple[int, int, int, int, int, bool]) -> dict[str, Any]:
    """One poster: post ``count`` jobs and run each one's dispatch pass."""
    index, count, shop_pk, zone_pk, seed, payments = args
    _reset_connections()
    from django.contrib.gis.geos import Point

    from jobs.dispatch import dispatch_job
    from jobs.hooks import hook_run
    from jobs.models import Job, new_tracking_salt
    from jobs.posting import _job_save
    from jobs.tracking.tokens import tracking_hash_for
    from marketplace.models import Shop

    west, south, east, north = common.CITY_BOX
    rng = random.Random(seed + index)
    post_ms, dispatch_ms, authorise_ms, stripe_ms, offers, outcomes = [], [], [], [], 0, {}
    if payments:
        _timed_gateway_authorise(stripe_ms)
    shop = Shop.objects.get(pk=shop_pk)
    cpu_start = _cpu_now()
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
            shop=shop,
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
        # What job_post does after authorising: insert + first event in one transaction.
        _job_save(job, actor=None, fingerprint="", render_response=None)
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
        "stripe_ms": stripe_ms,
        "offers": offers,
        "outcomes": outcomes,
        "cpu": _cpu_used(cpu_start),
    }


def _offer_subscription(courier_pks: list[int]) -> tuple[Any, Any]:
    """A Redis subscription to these couriers' socket groups, as their sockets would hold.

    Returns the pub/sub connection and the channel layer (to decode what arrives). The
    app publishes each courier's frames to ``courier.<id>`` on the pub/sub channel layer
    (``marketplace.realtime.broadcast``); a courier socket subscribes to that group's
    channel, and so does this.
    """
    from marketplace.realtime.broadcast import _publisher
    from marketplace.realtime.groups import courier_group

    publisher = _publisher()
    if publisher is None or len(publisher.shards) != 1:
        raise SystemExit("bench dispatch needs the one-shard Redis pub/sub channel layer")
    pubsub = publisher.shards[0].pubsub(ignore_subscribe_messages=True)
    channels = [publisher.channel(courier_group(pk)) for pk in courier_pks]
    for start in range(0, len(channels), 1000):
        pubsub.subscribe(*channels[start : start + 1000])
    # Wait until Redis confirmed every subscription: no frame may be sent before.
    confirmed = 0
    while confirmed < len(channels):
        message = pubsub.parse_response(block=True, timeout=5)
        if message is None:
            raise SystemExit("Redis did not confirm the couriers' subscriptions")
        confirmed += message[0] in (b"subscribe", "subscribe")
    return pubsub, publisher.layer


def _received_offers(pubsub: Any, layer: Any, *, timeout: float) -> list[tuple[str, int, str]]:
    """The offers pushed since the last call, waiting up to ``timeout`` for the first.

    (offer id, courier id, expires_at) in arrival order; an offer whose withdrawal
    arrived in the same batch is left out (its courier would no longer see it).
    """
    offers, withdrawn = [], set()
    message = pubsub.get_message(timeout=timeout)
    while message is not None:
        if message["type"] == "message":
            payload = layer.deserialize(message["data"]).get("payload", {})
            courier_pk = int(message["channel"].rsplit(b".", 1)[1])
            if payload.get("type") == "offer":
                offers.append((payload["offer_id"], courier_pk, payload["expires_at"]))
            elif payload.get("type") == "offer_withdrawn":
                withdrawn.add(payload["offer_id"])
        message = pubsub.get_message(timeout=0)
    return [offer for offer in offers if offer[0] not in withdrawn]


def race_offers(args: tuple[int, int, float, Any, Any]) -> dict[str, Any]:
    """One racer: accept every offer pushed to couriers ``id % racers == index``."""
    index, racers, stop_at, posters_done, ready = args
    _reset_connections()
    from datetime import datetime, timedelta

    from django.conf import settings
    from django.db.models import F
    from django.utils import timezone

    from couriers.models import Courier
    from jobs.dispatch import OfferNoLongerAvailable, offer_accept
    from jobs.models import Offer, OfferStatus

    # Each courier signed in once, as a socket does at connect: not part of a job's cost.
    couriers = {
        courier.pk: courier
        for courier in Courier.objects.annotate(slot=F("id") % racers)
        .filter(slot=index)
        .select_related("user")
    }
    pubsub, layer = _offer_subscription(sorted(couriers))
    ready.put(index)
    ttl = timedelta(seconds=settings.OFFER_TTL_SECONDS)
    accepted, refused, accept_ms, offer_to_accept_ms = 0, 0, [], []
    cpu_start = _cpu_now()
    while time.time() < stop_at:
        offers = _received_offers(pubsub, layer, timeout=0.1)
        if not offers:
            # Done once the posters are and no offer is open anywhere (a job whose couriers
            # were all engaged waits for its retry, which this bench does not run).
            if posters_done.is_set() and not (
                Offer.objects.filter(
                    status=OfferStatus.PENDING, expires_at__gt=timezone.now()
                ).exists()
            ):
                break
            continue
        for offer_pk, courier_pk, expires_at in offers:
            started = time.perf_counter()
            try:
                offer_accept(offer_pk=offer_pk, courier=couriers[courier_pk])
            except OfferNoLongerAvailable:
                refused += 1
                continue
            finally:
                accept_ms.append((time.perf_counter() - started) * 1000)
            accepted += 1
            # The pass stamps expires_at = its start + OFFER_TTL_SECONDS.
            offered_at = datetime.fromisoformat(expires_at.replace("Z", "+00:00")) - ttl
            offer_to_accept_ms.append((timezone.now() - offered_at).total_seconds() * 1000)
    pubsub.close()
    return {
        "accepted": accepted,
        "refused": refused,
        "accept_ms": accept_ms,
        "offer_to_accept_ms": offer_to_accept_ms,
        "cpu": _cpu_used(cpu_start),
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


def run_phase(
    options: argparse.Namespace, shop_pk: int, zone_pk: int, *, payments: bool
) -> dict[str, Any]:
    """One phase: every poster and racer at once; its raw figures and integrity counts."""
    from django.db.models import Count

    from jobs.models import Job, Offer

    reset_phase()
    _reset_connections()
    context = mp.get_context("fork")
    per_poster = [options.jobs // options.posters] * options.posters
    per_poster[0] += options.jobs - sum(per_poster)
    stop_at = time.time() + options.timeout
    load = _uptime()
    manager = context.Manager()
    posters_done = manager.Event()
    ready = manager.Queue()
    with context.Pool(options.posters + options.racers) as pool:
        racing = pool.map_async(
            race_offers,
            [(i, options.racers, stop_at, posters_done, ready) for i in range(options.racers)],
        )
        for _ in range(options.racers):  # every courier subscribed before the first post
            ready.get(timeout=120)
        started = time.perf_counter()
        posting = pool.map_async(
            post_and_dispatch,
            [(i, n, shop_pk, zone_pk, 7, payments) for i, n in enumerate(per_poster)],
        )
        posters = posting.get()
        posted_at = time.perf_counter()
        posters_done.set()
        racers = racing.get()
    finished = time.perf_counter()
    manager.shutdown()

    def pooled(name: str, source: list[dict[str, Any]]) -> list[float]:
        return [v for part in source for v in part[name]]

    outcomes: dict[str, int] = {}
    for part in posters:
        for name, n in part["outcomes"].items():
            outcomes[name] = outcomes.get(name, 0) + n
    return {
        "payments": payments,
        "load": load,
        "jobs": options.jobs,
        "post_elapsed": posted_at - started,
        "elapsed": finished - started,
        "post_ms": pooled("post_ms", posters),
        "dispatch_ms": pooled("dispatch_ms", posters),
        "authorise_ms": pooled("authorise_ms", posters),
        "stripe_ms": pooled("stripe_ms", posters),
        "accept_ms": pooled("accept_ms", racers),
        "offer_to_accept_ms": pooled("offer_to_accept_ms", racers),
        "offers": sum(part["offers"] for part in posters),
        "accepted": sum(part["accepted"] for part in racers),
        "refused": sum(part["refused"] for part in racers),
        "outcomes": outcomes,
        "cpu": {
            f"{role} {kind}": sum(part["cpu"][kind] for part in parts)
            for role, parts in (("posters", posters), ("racers", racers))
            for kind in ("python", "postgres")
        },
        "statuses": dict(Job.objects.values_list("status").annotate(n=Count("pk"))),
        "offer_statuses": dict(Offer.objects.values_list("status").annotate(n=Count("pk"))),
        "integrity": integrity(),
    }


def _uptime() -> str:
    with open("/proc/loadavg") as loadavg:
        return " ".join(loadavg.read().split()[:3])


def _merge(phases: list[dict[str, Any]]) -> dict[str, Any]:
    """One mode's phases pooled: latencies together, rates over the summed time."""
    merged: dict[str, Any] = {"phases": len(phases), "load": [p["load"] for p in phases]}
    for name in ("jobs", "post_elapsed", "elapsed", "offers", "accepted", "refused"):
        merged[name] = sum(p[name] for p in phases)
    for name in (
        "post_ms",
        "dispatch_ms",
        "authorise_ms",
        "stripe_ms",
        "accept_ms",
        "offer_to_accept_ms",
    ):
        merged[name] = [v for p in phases for v in p[name]]
    merged["cpu"] = {name: sum(p["cpu"][name] for p in phases) for name in phases[0]["cpu"]}
    # The job's own insert + first event: the post without its authorisation.
    merged["save_ms"] = (
        [post - auth for post, auth in zip(merged["post_ms"], merged["authorise_ms"], strict=True)]
        if merged["authorise_ms"]
        else merged["post_ms"]
    )
    merged["rows_ms"] = [
        auth - call for auth, call in zip(merged["authorise_ms"], merged["stripe_ms"], strict=True)
    ]
    return merged


def _p(values: list[float], q: int) -> float:
    return common.percentile(values, q)


def _fmt(values: list[float]) -> str:
    if not values:
        return "-"
    return f"p50 {_p(values, 50):.1f} ms, p99 {_p(values, 99):.1f} ms"


def _print_phase(phase: dict[str, Any]) -> None:
    mode = "on " if phase["payments"] else "off"
    line = (
        f"  phase payments {mode}: {phase['jobs'] / phase['post_elapsed']:,.0f} jobs/s posted, "
        f"{phase['accepted'] / phase['elapsed']:,.0f}/s accepted; post {_fmt(phase['post_ms'])}; "
        f"pass {_fmt(phase['dispatch_ms'])}; accept {_fmt(phase['accept_ms'])} "
        f"(load {phase['load']})"
    )
    phase_cpu = {"jobs": phase["jobs"], "cpu": phase["cpu"]}
    print(line, flush=True)
    print(f"    jobs by status: {phase['statuses']}; offers: {phase['offer_statuses']}", flush=True)
    print(f"    first-pass outcomes: {phase['outcomes']}", flush=True)
    print(f"    integrity (all must be 0): {phase['integrity']}")
    print(f"    CPU per job: {_cpu_line(phase_cpu)}", flush=True)


def _print_mode(name: str, m: dict[str, Any]) -> None:
    print(f"payments {name} ({m['phases']} phase(s), load {', '.join(m['load'])}):", flush=True)
    print(
        f"  posted + first pass: {m['jobs'] / m['post_elapsed']:,.0f} jobs/s "
        f"({m['jobs']:,} in {m['post_elapsed']:.1f} s)"
    )
    print(f"  post: {_fmt(m['post_ms'])}")
    if m["authorise_ms"]:
        print(
            "    authorise (hook: billing read, payment row, Stripe call): "
            + _fmt(m["authorise_ms"])
        )
        print(f"      of which the stand-in call (HTTP round trip): {_fmt(m['stripe_ms'])}")
        print(f"      of which the payment rows (authorise minus call): {_fmt(m['rows_ms'])}")
        print(f"    insert + first event (post minus authorise): {_fmt(m['save_ms'])}")
    print(f"  dispatch pass: {_fmt(m['dispatch_ms'])}")
    print(f"  offers made: {m['offers']:,} ({m['offers'] / m['post_elapsed']:,.0f}/s)")
    print(
        f"  accepted: {m['accepted']:,} ({m['accepted'] / m['elapsed']:,.0f}/s over "
        f"{m['elapsed']:.1f} s), refused (lost the race): {m['refused']:,}"
    )
    print(f"  accept call: {_fmt(m['accept_ms'])}")
    print(f"  offer created -> accepted: {_fmt(m['offer_to_accept_ms'])}")
    print(f"  CPU per job: {_cpu_line(m)}", flush=True)


def _cpu_line(m: dict[str, Any]) -> str:
    """CPU ms per job by part, the total, and the jobs/s that many cores could carry."""
    per_job = {name: 1000 * seconds / m["jobs"] for name, seconds in m["cpu"].items()}
    total = sum(per_job.values())
    parts = ", ".join(f"{name} {ms:.2f}" for name, ms in per_job.items())
    cores = os.cpu_count() or 1
    ceiling = 1000 * cores / total
    return f"{parts}; total {total:.2f} ms (at most {ceiling:,.0f} jobs/s on {cores} cores)"


def _print_comparison(off: dict[str, Any], on: dict[str, Any]) -> None:
    rate_off = off["jobs"] / off["post_elapsed"]
    rate_on = on["jobs"] / on["post_elapsed"]
    print("payments on vs off (same run):", flush=True)
    print(f"  jobs/s posted: {rate_on:,.0f} vs {rate_off:,.0f}: ratio {rate_on / rate_off:.2f}")
    for label, name in (
        ("post", "post_ms"),
        ("dispatch pass", "dispatch_ms"),
        ("accept", "accept_ms"),
    ):
        for q in (50, 99):
            a, b = _p(on[name], q), _p(off[name], q)
            print(f"  {label} p{q}: {a:.1f} vs {b:.1f} ms ({a - b:+.1f} ms)")
    for q in (50, 99):
        extra = _p(on["post_ms"], q) - _p(off["post_ms"], q)
        print(
            f"  where a post's extra time goes (p{q}, +{extra:.1f} ms): stand-in call "
            f"{_p(on['stripe_ms'], q):.1f} ms, payment rows {_p(on['rows_ms'], q):.1f} ms, "
            f"insert + first event {_p(on['save_ms'], q):.1f} vs {_p(off['save_ms'], q):.1f} ms"
        )
    print(flush=True)


def _print_pairs(phases: list[dict[str, Any]]) -> None:
    """Each off/on pair's ratio: the phases next to each other saw the most similar load."""
    ratios = []
    for i in range(0, len(phases) - 1, 2):
        first, second = phases[i], phases[i + 1]
        on, off = (first, second) if first["payments"] else (second, first)
        ratio = (on["jobs"] / on["post_elapsed"]) / (off["jobs"] / off["post_elapsed"])
        ratios.append(ratio)
        print(
            f"  pair {i // 2 + 1}: on/off {ratio:.2f}; post p50 "
            f"{_p(on['post_ms'], 50):.1f} vs {_p(off['post_ms'], 50):.1f} ms "
            f"(load {on['load']} / {off['load']})"
        )
    if ratios:
        print(f"  median pair ratio: {sorted(ratios)[len(ratios) // 2]:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--couriers", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=2_000, help="jobs per phase")
    parser.add_argument("--posters", type=int, default=2)
    parser.add_argument("--racers", type=int, default=4)
    parser.add_argument("--mode", choices=["broadcast", "sequential"], default="broadcast")
    parser.add_argument("--broadcast-size", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=300, help="seconds per phase")
    parser.add_argument(
        "--payments",
        choices=["both", "on", "off"],
        default="both",
        help="authorise each job at a loopback Stripe stand-in (on), not (off), or phases "
        "of each alternating in one run (both)",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="with --payments both: pairs of phases (ABBA order)"
    )
    options = parser.parse_args()

    import os

    # One plain connection per process: a psycopg pool made before fork would be shared.
    os.environ["DB_POOL_MAX_SIZE"] = "0"
    os.environ["DISPATCH_MODE"] = options.mode
    os.environ["DISPATCH_BROADCAST_SIZE"] = str(options.broadcast_size)
    if options.payments == "both":
        order = [False, True, True, False] * ((options.rounds + 1) // 2)
        plan = order[: 2 * options.rounds]
    else:
        plan = [options.payments == "on"]
    standin = None
    if any(plan):
        from payments.standin import StandinServer

        standin = StandinServer(api_key="sk_test_bench")
        os.environ.update(
            STRIPE_SECRET_KEY="sk_test_bench",
            STRIPE_API_BASE=standin.start(),
            STRIPE_STANDIN="true",
        )
    common.setup()
    import logging

    from django.conf import settings
    from django_q.brokers import get_broker

    logging.getLogger("django-q").setLevel(logging.WARNING)  # one "Enqueued" line per post

    print(common.machine(), flush=True)
    print(
        f"mode {settings.DISPATCH_MODE}, broadcast size {settings.DISPATCH_BROADCAST_SIZE}, "
        f"{options.couriers:,} couriers, {options.jobs:,} jobs per phase, {options.posters} "
        f"posters, {options.racers} racers, phases: "
        + ", ".join("payments on" if p else "payments off" for p in plan),
        flush=True,
    )
    print(f"uptime: {os.popen('uptime').read().strip()}", flush=True)
    shop_pk, zone_pk = prepare(options.couriers, payments=any(plan))
    phases = []
    try:
        for payments in plan:
            phase = run_phase(options, shop_pk, zone_pk, payments=payments)
            _print_phase(phase)
            phases.append(phase)
    finally:
        get_broker().purge_queue()  # the dispatch tasks posting queued; the bench ran them inline
        if standin is not None:
            standin.stop()
    print(f"uptime: {os.popen('uptime').read().strip()}", flush=True)

    modes = {}
    for name, flag in (("off", False), ("on", True)):
        chosen = [p for p in phases if p["payments"] == flag]
        if chosen:
            modes[name] = _merge(chosen)
            _print_mode(name, modes[name])
    if len(modes) == 2:
        _print_comparison(modes["off"], modes["on"])
        _print_pairs(phases)
    bad = [
        p
        for p in phases
        if any(p["integrity"].values()) or p["accepted"] != p["statuses"].get("assigned", 0)
    ]
    if bad:
        raise SystemExit("DOUBLE ASSIGNMENT OR LOST ACCEPT: see the counts above")


if __name__ == "__main__":
    main()
