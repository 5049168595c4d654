"""HTTP load on the real server: an open-loop mix of API calls at rising rates.

Run: ./dev bench api [--rates 20,40,80,160] [--seconds 5] [--ceilings] [--couriers 2000]
     [--ingest-rates 0,1000] [--ingest-sockets 100]

Bench database and Redis db 9 only (see bench/common.py). Starts what ``./dev run`` runs,
on loopback: uvicorn ``marketplace.asgi:application`` (``WEB_CONCURRENCY`` processes,
default 1), the main django-q2 cluster (it runs the dispatch pass every post queues), and
the payment gateway's Stripe stand-in (in this process), then loads couriers, one shop
with a card, and a few jobs to read.

The generator is open loop: request i of a phase is due at ``start + i / rate`` whatever
happened to the ones before (a request that finds no idle connection opens one), and its
latency runs from that due time to the last byte of the answer, so a server that falls
behind shows it as latency instead of slowing the generator down. The mix (weights in
MIX): quotes, posts (a quote, then the job; the post authorises the card on the
stand-in), the shop's job reads and list, the courier's offer list, the recipient's
tracking view, and courier steps: one of ``STEP_COURIERS`` couriers waiting beside the
pickup either accepts an offer (its offer list, then the accept) or takes its job one
step on (arrive at pickup, pick up, arrive at drop-off, deliver: the delivery captures the
payment at the stand-in through the worker).

Courier ingest beside it: with ``--ingest-rates 0,1000`` every request rate is run twice,
without and then with ``--ingest-sockets`` courier sockets sending single ``location``
pings, paced to 1,000 pings/s in all, all through the phase (the same server process takes
both; the pings are written by its batched writer).

Each rate runs ``--seconds`` after a one-second warm-up; for each: offered
and achieved rate, p50 / p99 / max, errors (any status but the expected one, or a
failure), and CPU used by the server, the workers, PostgreSQL (every backend on the
machine: other work on it counts too) and the generator, as a share of one core.

``--ceilings`` runs the same generator, at the same rates, against ``bench.bare_django``
(the project's settings and middleware, one plain JSON view) and ``bench.bare_asgi`` (a
20-line ASGI app) on the same path mix, and reports the highest rate each keeps at p99
<= 100 ms beside the real server's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench import common

P99_GOAL_MS = 100.0
MAX_CONNECTIONS = 256
WARMUP_SECONDS = 1.0
FIRST_WARMUP_SECONDS = 3.0  # imports, connections, caches of a fresh server
# uvicorn closes idle keep-alive connections after 5 s; reuse only younger ones.
KEEP_ALIVE_SECONDS = 3.0
# kind -> weight; a "post" is two requests (quote, then job) counted as one.
MIX = {
    "quote": 25,
    "post": 10,
    "job_read": 20,
    "job_list": 10,
    "offers": 10,
    "track": 15,
    "courier_step": 10,
}
# Couriers moved beside the pickup, each with a token, for the courier steps.
STEP_COURIERS = 20
# A courier's steps on its job after the accept, in order (deliver needs the drop point).
STEPS = ("arrive-pickup", "pickup", "arrive-dropoff", "deliver")
STANDIN_KEY = "sk_test_standin"
FAST = "1000000/min"  # the throttles are not what this measures


def server_environment(standin_url: str) -> dict[str, str]:
    return {
        "STRIPE_SECRET_KEY": STANDIN_KEY,
        "STRIPE_API_BASE": standin_url,
        "STRIPE_STANDIN": "true",
        "STRIPE_WEBHOOK_SECRET": "whsec_bench",
        "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_bench_connect",
        "THROTTLE_USER": FAST,
        "THROTTLE_ANON": FAST,
        "TRACKING_RATE_PER_TOKEN": FAST,
        "TRACKING_RATE_PER_ADDRESS": FAST,
    }


@dataclass
class Fixture:
    shop_token: str
    courier_token: str
    job_pks: list[str]
    track_tokens: list[str]
    quote_body: dict[str, Any]
    step_tokens: list[str] = field(default_factory=list)
    ingest_tokens: list[str] = field(default_factory=list)


def prepare(couriers: int, *, ingest_sockets: int) -> Fixture:
    """Couriers over the city, one shop with a card and its token, a courier's token."""
    from django.contrib.gis.geos import MultiPolygon, Point, Polygon
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from jobs.models import ServiceZone
    from marketplace.models import Shop, User
    from payments.billing import shop_payment_method_set

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE jobs_offer, jobs_jobevent, jobs_webhookdelivery, jobs_job, "
            "django_q_schedule, payments_jobpayment, payments_shopbilling CASCADE"
        )
        cursor.execute("DELETE FROM authtoken_token")
    common.truncate_couriers()
    common.bulk_load_couriers(couriers)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE couriers_courier SET capacity = 'xl', acceptance_rate = 1")
        cursor.execute("SELECT user_id FROM couriers_courier ORDER BY id LIMIT 1")
        courier_user_pk = cursor.fetchone()[0]
    ServiceZone.objects.get_or_create(
        name="bench city",
        defaults={"area": MultiPolygon(Polygon.from_bbox(common.CITY_BOX), srid=4326)},
    )
    shop, _ = Shop.objects.get_or_create(
        name="bench api shop",
        defaults={
            "default_pickup_address": "Alexanderplatz 1",
            "default_pickup_point": Point(13.4132, 52.5219, srid=4326),
        },
    )
    shop_payment_method_set(shop=shop, actor=None, payment_method_id="pm_card_visa")
    user, _ = User.objects.get_or_create(username="bench-api-shop", defaults={"shop": shop})
    shop_token = Token.objects.create(user=user).key
    courier_token = Token.objects.create(user_id=courier_user_pk).key
    with connection.cursor() as cursor:
        # The step couriers wait within ~300 m of the pickup, so dispatch offers them the
        # posted jobs first; the ingest couriers' last fix is an hour old, so their pings
        # (stamped now) are newer and kept.
        cursor.execute(
            "UPDATE couriers_courier SET current_point = ST_SetSRID(ST_MakePoint("
            "13.4132 + (random() - 0.5) * 0.008, 52.5219 + (random() - 0.5) * 0.005), "
            "4326)::geography WHERE id IN (SELECT id FROM couriers_courier ORDER BY id "
            "OFFSET 1 LIMIT %s) RETURNING user_id",
            [STEP_COURIERS],
        )
        step_users = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "UPDATE couriers_courier SET position_recorded_at = now() - interval '1 hour' "
            "WHERE id IN (SELECT id FROM couriers_courier ORDER BY id DESC LIMIT %s) "
            "RETURNING user_id",
            [ingest_sockets],
        )
        ingest_users = [row[0] for row in cursor.fetchall()]
    step_tokens = [Token.objects.create(user_id=pk).key for pk in step_users]
    ingest_tokens = [Token.objects.create(user_id=pk).key for pk in ingest_users]
    body = {
        "pickup": {
            "address": "Alexanderplatz 1, Berlin",
            "lat": 52.5219,
            "lng": 13.4132,
            "contact_name": "Kim",
            "contact_phone": "+4930111111",
        },
        "dropoff": {
            "address": "Potsdamer Platz 1, Berlin",
            "lat": 52.5096,
            "lng": 13.3760,
            "contact_name": "Robin",
            "contact_phone": "+4930222222",
        },
        "package": {"size": "small", "weight_g": 1200, "value_minor": 4500},
    }
    return Fixture(shop_token, courier_token, [], [], body, step_tokens, ingest_tokens)


def seed_jobs(port: int, fixture: Fixture, count: int) -> None:
    """Post ``count`` jobs through the server itself, for the reads to read."""
    from jobs.models import Job
    from jobs.tracking.tokens import job_tracking_token

    for _ in range(count):
        status, body = _blocking_post(port, "/api/v1/jobs/", fixture.quote_body, fixture)
        if status != 201:
            raise RuntimeError(f"seeding a job failed: {status} {body[:300]!r}")
        fixture.job_pks.append(json.loads(body)["id"])
    for job in Job.objects.filter(pk__in=fixture.job_pks):
        token = job_tracking_token(job)
        if token:
            fixture.track_tokens.append(token)


def _blocking_post(port: int, path: str, body: dict, fixture: Fixture) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Token {fixture.shop_token}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Connection:
    """One keep-alive HTTP/1.1 connection (enough of the protocol for uvicorn's answers)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        fields = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                fields[name.strip().lower()] = value.strip()
        if "content-length" in fields:
            data = await self.reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding") == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                chunks.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            data = b"".join(chunk[:-2] for chunk in chunks)
        else:
            data = b""
        if fields.get("connection") == "close":
            raise ConnectionResetError("server closed the connection")
        return status, data


class Generator:
    """Open-loop requests against one server, on a pool of keep-alive connections."""

    def __init__(self, port: int, fixture: Fixture, *, bare: bool, seed: int = 7) -> None:
        self.port, self.fixture, self.bare = port, fixture, bare
        self.idle: list[tuple[Connection, float]] = []
        self.open = 0
        self.slot = asyncio.Semaphore(MAX_CONNECTIONS)
        self.rng = random.Random(seed)
        # Step couriers not in the middle of a call, and the job (and next step) each holds.
        self.free_couriers = list(fixture.step_tokens)
        self.courier_jobs: dict[str, tuple[str, int]] = {}
        self.step_counts: Counter[str] = Counter()

    async def _call(self, method: str, path: str, token: str | None, body: Any = None) -> int:
        await self.slot.acquire()
        try:
            connection = None
            while self.idle and connection is None:
                connection, used_at = self.idle.pop()
                if time.monotonic() - used_at > KEEP_ALIVE_SECONDS:
                    connection.writer.close()  # the server may close it first: never reuse
                    connection = None
            if connection is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                connection = Connection(reader, writer)
            headers = {"Content-Type": "application/json"}
            if token:
                headers["Authorization"] = f"Token {token}"
            payload = json.dumps(body).encode() if body is not None else b""
            try:
                status, data = await connection.request(method, path, headers, payload)
            except (OSError, asyncio.IncompleteReadError):
                connection.writer.close()
                raise
            self.idle.append((connection, time.monotonic()))
            self.last_body = data
            return status
        finally:
            self.slot.release()

    async def one(self, kind: str) -> bool:
        """One call of ``kind``; True if it got the answer it should."""
        f = self.fixture
        if self.bare:  # the same paths and bodies; a bare app answers 200 to each
            paths = {"quote": "/api/v1/quotes/", "post": "/api/v1/jobs/"}
            method = "POST" if kind in paths else "GET"
            body = f.quote_body if kind in paths else None
            path = paths.get(kind, "/api/v1/jobs/")
            return await self._call(method, path, f.shop_token, body) == 200
        if kind == "quote":
            return await self._call("POST", "/api/v1/quotes/", f.shop_token, f.quote_body) == 201
        if kind == "post":
            status = await self._call("POST", "/api/v1/quotes/", f.shop_token, f.quote_body)
            if status != 201:
                return False
            quote_id = json.loads(self.last_body)["id"]
            body = {"quote_id": quote_id}
            return await self._call("POST", "/api/v1/jobs/", f.shop_token, body) == 201
        if kind == "job_read":
            pk = self.rng.choice(f.job_pks)
            return await self._call("GET", f"/api/v1/jobs/{pk}/", f.shop_token) == 200
        if kind == "job_list":
            return await self._call("GET", "/api/v1/jobs/", f.shop_token) == 200
        if kind == "offers":
            return await self._call("GET", "/api/v1/courier/offers/", f.courier_token) == 200
        if kind == "courier_step":
            return await self.courier_step()
        token = self.rng.choice(f.track_tokens)
        return await self._call("GET", f"/api/v1/track/{token}/", None) == 200

    async def courier_step(self) -> bool:
        """One step of a free step courier: accept an offer, or move its job on."""
        if not self.free_couriers:  # every step courier is mid-call: read offers instead
            status = await self._call("GET", "/api/v1/courier/offers/", self.fixture.courier_token)
            return status == 200
        token = self.free_couriers.pop(self.rng.randrange(len(self.free_couriers)))
        try:
            if token in self.courier_jobs:
                job_id, step = self.courier_jobs[token]
                body: dict[str, Any] = {}
                if STEPS[step] == "deliver":
                    dropoff = self.fixture.quote_body["dropoff"]
                    body = {"position": {"lat": dropoff["lat"], "lng": dropoff["lng"]}}
                path = f"/api/v1/courier/jobs/{job_id}/{STEPS[step]}/"
                status = await self._call("POST", path, token, body)
                if status != 200:
                    return False
                self.step_counts[STEPS[step]] += 1
                if step + 1 < len(STEPS):
                    self.courier_jobs[token] = (job_id, step + 1)
                else:
                    del self.courier_jobs[token]
                return True
            if await self._call("GET", "/api/v1/courier/offers/", token) != 200:
                return False
            offers = json.loads(self.last_body)
            items = offers.get("results", offers) if isinstance(offers, dict) else offers
            if not items:
                self.step_counts["no_offer"] += 1
                return True
            offer = items[0]
            path = f"/api/v1/courier/offers/{offer['offer_id']}/accept/"
            status = await self._call("POST", path, token, {})
            if status == 409:  # taken or expired meanwhile: an answer, not an error
                self.step_counts["accept_lost"] += 1
                return True
            if status != 200:
                return False
            self.step_counts["accept"] += 1
            self.courier_jobs[token] = (offer["job_id"], 0)
            return True
        finally:
            self.free_couriers.append(token)

    async def phase(self, rate: float, seconds: float) -> dict[str, Any]:
        kinds = list(MIX)
        weights = [MIX[k] for k in kinds]
        count = int(rate * seconds)
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        done_at: list[float] = []
        start = time.perf_counter() + 0.05

        async def fire(due: float, kind: str) -> None:
            try:
                ok = await self.one(kind)
            except (OSError, asyncio.IncompleteReadError, ValueError, KeyError) as exc:
                ok = False
                errors[f"{kind}: {type(exc).__name__}"] += 1
            finished = time.perf_counter()
            latencies.append((finished - due) * 1000)
            done_at.append(finished)
            if not ok:
                errors[kind] += 1

        tasks = []
        for i in range(count):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(fire(due, self.rng.choices(kinds, weights)[0])))
        await asyncio.gather(*tasks)
        elapsed = max(done_at) - start if done_at else seconds
        s = common.summary(latencies)
        return {
            "rate": rate,
            "sent": count,
            "achieved": count / elapsed,
            "p50": s["p50"],
            "p99": s["p99"],
            "max": max(latencies) if latencies else 0.0,
            "errors": sum(v for k, v in errors.items() if ":" not in k),
            "error_kinds": dict(errors),
        }


@contextmanager
def processes(app: str, extra_env: dict[str, str], *, workers: int, with_cluster: bool):
    """uvicorn serving ``app`` (``workers`` processes) and, for the real app, a cluster."""
    from bench.ingest import server

    os.environ.update(extra_env)
    os.environ["WEB_CONCURRENCY"] = str(workers)
    cluster = None
    with server(app, workers=workers) as (port, process):
        if with_cluster:
            env = {**os.environ, **common.bench_environment(), **extra_env}
            env.pop("Q_CLUSTER_NAME", None)
            cluster = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=common.ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        try:
            yield port, process, cluster
        finally:
            if cluster is not None:
                cluster.terminate()
                try:
                    cluster.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    cluster.kill()
                    cluster.wait()


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (uvicorn's workers, the cluster's children)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


async def run_rates(
    name: str,
    port: int,
    fixture: Fixture,
    rates: list[float],
    seconds: float,
    pids: dict,
    *,
    ingest_rate: float = 0,
) -> list[dict[str, Any]]:
    from bench.ingest import LoadGenerator, Phase, cpu_seconds, postgres_pids

    generator = Generator(port, fixture, bare=name != "real")
    ingest = None
    if ingest_rate:
        ingest = LoadGenerator(port, fixture.ingest_tokens)
        await ingest.connect()
        name = f"{name}+{ingest_rate:g} pings/s"
    pings = Phase("ingest", 1, ingest_rate)

    async def both(rate: float, duration: float) -> dict[str, Any]:
        if ingest is None:
            return await generator.phase(rate, duration)
        result, _ = await asyncio.gather(
            generator.phase(rate, duration), ingest.run(pings, duration)
        )
        return result

    results = []
    for index, rate in enumerate(rates):
        await both(rate, FIRST_WARMUP_SECONDS if index == 0 else WARMUP_SECONDS)
        groups = {label: _tree(pid) for label, pid in pids.items() if pid}
        groups["postgres"] = postgres_pids()
        groups["generator"] = [os.getpid()]
        before = {pid: cpu_seconds([pid]) for p in groups.values() for pid in p}
        sent_before = ingest.sent_pings if ingest else 0
        started = time.perf_counter()
        result = await both(rate, seconds)
        wall = time.perf_counter() - started
        result["pings_per_s"] = ((ingest.sent_pings if ingest else 0) - sent_before) / wall
        # Per process, and only those alive at both ends (backends come and go).
        result["cpu"] = {
            label: sum(max(0.0, cpu_seconds([pid]) - before[pid]) for pid in p) / wall
            for label, p in groups.items()
        }
        results.append(result)
        cpu = " / ".join(f"{label} {share:.0%}" for label, share in result["cpu"].items())
        print(
            f"{name:>11} @ {rate:>6.0f}/s: achieved {result['achieved']:7.1f}/s, "
            f"p50 {result['p50']:7.1f} ms, p99 {result['p99']:8.1f} ms, "
            f"max {result['max']:8.1f} ms, errors {result['errors']}  CPU {cpu}"
            + (f", pings sent {result['pings_per_s']:,.0f}/s" if ingest else ""),
            flush=True,
        )
        if generator.step_counts:
            print(f"{'':>13}courier steps: {dict(generator.step_counts)}", flush=True)
            generator.step_counts.clear()
        if ingest is not None and ingest.errors:
            print(f"{'':>13}ingest errors: {ingest.errors[:3]}", flush=True)
        if result["error_kinds"]:
            print(f"{'':>13}errors by kind: {result['error_kinds']}", flush=True)
        if result["p99"] > 20 * P99_GOAL_MS:
            print(f"{'':>13}far past the goal: higher rates skipped", flush=True)
            break
    if ingest is not None:
        await ingest.drain()
        await ingest.close()
    return results


def best_rate(results: list[dict[str, Any]]) -> float:
    """The highest rate served at p99 <= the goal, without errors, at >= 95 % of offered."""
    good = [
        r["rate"]
        for r in results
        if r["p99"] <= P99_GOAL_MS and r["errors"] == 0 and r["achieved"] >= 0.95 * r["rate"]
    ]
    return max(good, default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default="20,40,80,160")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--couriers", type=int, default=2_000)
    parser.add_argument("--seed-jobs", type=int, default=20)
    parser.add_argument(
        "--ceilings", action="store_true", help="also the bare Django and ASGI apps"
    )
    parser.add_argument(
        "--ingest-rates",
        default="0,1000",
        help="courier pings/s sent beside the requests, one pass over --rates each (0: none)",
    )
    parser.add_argument("--ingest-sockets", type=int, default=100)
    options = parser.parse_args()
    ingest_rates = [float(r) for r in options.ingest_rates.split(",")]
    rates = [float(r) for r in options.rates.split(",")]
    workers = int(os.environ.get("WEB_CONCURRENCY", "1"))

    from payments.standin import StandinServer

    standin = StandinServer(api_key=STANDIN_KEY)
    extra_env = server_environment(standin.start())
    os.environ.update(extra_env)
    common.setup()
    print(common.machine(), flush=True)
    print(f"uptime: {os.popen('uptime').read().strip()}", flush=True)
    print(f"WEB_CONCURRENCY={workers}, rates {rates}, {options.seconds:g} s each", flush=True)
    fixture = prepare(options.couriers, ingest_sockets=options.ingest_sockets)
    from django.db import connections

    connections.close_all()
    summary = {}
    try:
        with processes(
            "marketplace.asgi:application", extra_env, workers=workers, with_cluster=True
        ) as (port, server_process, cluster):
            seed_jobs(port, fixture, options.seed_jobs)
            pids = {"server": server_process.pid, "workers": cluster.pid}
            for ingest_rate in ingest_rates:
                label = f"real+{ingest_rate:g} pings/s" if ingest_rate else "real"
                print(f"uptime: {os.popen('uptime').read().strip()}", flush=True)
                results = asyncio.run(
                    run_rates(
                        "real",
                        port,
                        fixture,
                        rates,
                        options.seconds,
                        pids,
                        ingest_rate=ingest_rate,
                    )
                )
                summary[label] = best_rate(results)
        if options.ceilings:
            for name, app in (
                ("bare django", "bench.bare_django:application"),
                ("bare asgi", "bench.bare_asgi:app"),
            ):
                with processes(app, extra_env, workers=workers, with_cluster=False) as (
                    port,
                    server_process,
                    _,
                ):
                    pids = {"server": server_process.pid}
                    results = asyncio.run(
                        run_rates(name, port, fixture, rates, options.seconds, pids)
                    )
                    summary[name] = best_rate(results)
    finally:
        standin.stop()
        from django_q.brokers import get_broker

        get_broker().purge_queue()
    print(f"uptime: {os.popen('uptime').read().strip()}", flush=True)
    print(f"highest rate with p99 <= {P99_GOAL_MS:g} ms (0 errors):", flush=True)
    real = summary.get("real", 0.0)
    for name, rate in summary.items():
        is_ceiling = name.startswith("bare")
        ratio = f" (real = {real / rate:.0%} of it)" if is_ceiling and rate else ""
        print(f"  {name}: {rate:g} req/s{ratio}", flush=True)
    if any(r == max(rates) for r in summary.values()):
        print("  (a rate equal to the highest tried: raise --rates to find the limit)")


if __name__ == "__main__":
    main()
