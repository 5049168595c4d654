"""Courier ping → tracker frame latency through the real server, beside a bare ceiling.

Two shapes, each at several offered ping rates:

- **1:1**: N jobs in ``picked_up``, one courier socket and one tracking socket each. Every
  courier sends ``--per-courier`` pings/s, so N = rate ÷ that, and the tracking interval
  is set a little under 1 ÷ that: every ping is due a frame (the throttle passes them).
- **1:many**: one job, ``--trackers`` tracking sockets, one courier at the offered rate,
  the tracking interval at 0 (every ping fans out to every tracker).

A ping's ``recorded_at`` is its send time, and the tracker frame carries it back, so the
latency is receive time minus that, all on this machine's clock. Reported: frames
received per second, p50/p99/max latency, and the CPU seconds per second of the server,
PostgreSQL, Redis and this load generator. The same shapes then run against
``bench.bare_fanout`` (a bare ASGI app on the same Redis pub/sub) as the ceiling.

    ./dev bench fanout [--seconds 4] [--rates 250,500,1000,2000] [--skip bare]
                       [--server-workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from bench import common
from bench.ingest import cpu_seconds, postgres_pids

FANOUT_DB = os.environ.get("BENCH_FANOUT_DB", "bench_fanout")
WARMUP_SECONDS = 2.0
DRAIN_SECONDS = 2.0


@contextmanager
def server(app: str, env_extra: dict[str, str], workers: int = 1):
    from tests.e2e_server import free_port

    port = free_port("127.0.0.1")
    env = {**os.environ, **common.bench_environment(), "PYTHONUNBUFFERED": "1", **env_extra}
    command = [
        sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
        "--lifespan", "off", "--no-access-log", "--log-level", "warning",
        "--ws-per-message-deflate", "false", "--workers", str(workers),
    ]  # fmt: skip
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - outlives this block, closed below
        prefix="bench-fanout-", suffix=".log", delete=False
    )
    process = subprocess.Popen(command, cwd=common.ROOT, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"{app} did not start; see {log.name}")
        yield port, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def server_pids(pid: int) -> list[int]:
    """The server and, with ``--workers``, its worker processes."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [pid, *(int(child) for child in out.stdout.split())]


def redis_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-x", "redis-server"], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


def prepare(jobs: int) -> list[tuple[str, str]]:
    """``jobs`` picked-up jobs, each with its own busy courier: (courier token, track token)."""
    from django.contrib.gis.geos import MultiPolygon, Point, Polygon
    from django.db import connection

    from jobs.models import Job, JobStatus, ServiceZone, new_tracking_salt
    from jobs.tracking.tokens import tracking_hash_for, tracking_token_for
    from marketplace.models import Shop

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE jobs_job, jobs_servicezone, marketplace_shop CASCADE")
    common.truncate_couriers()
    common.bulk_load_couriers(jobs, status="busy", recorded_at_sql="now() - interval '1 hour'")
    zone = ServiceZone.objects.create(
        name="bench", area=MultiPolygon(Polygon.from_bbox(common.CITY_BOX), srid=4326)
    )
    shop = Shop.objects.create(name="Bench shop")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) "
            "SELECT substr(md5(random()::text) || md5(random()::text), 1, 40), now(), user_id "
            "FROM couriers_courier ORDER BY id RETURNING key, user_id"
        )
        tokens = dict((user_id, key) for key, user_id in cursor.fetchall())
        cursor.execute("SELECT id, user_id FROM couriers_courier ORDER BY id")
        couriers = cursor.fetchall()
    rows, pairs = [], []
    for courier_pk, user_id in couriers:
        pk, salt = uuid.uuid4(), new_tracking_salt()
        rows.append(
            Job(
                id=pk, tracking_salt=salt,
                tracking_token_hash=tracking_hash_for(job_pk=pk, salt=salt),
                shop=shop, zone=zone, status=JobStatus.PICKED_UP, courier_id=courier_pk,
                pickup_address="bench pickup", pickup_point=Point(13.40, 52.52, srid=4326),
                dropoff_address="bench dropoff", dropoff_point=Point(13.42, 52.51, srid=4326),
                package_size="small", package_weight_g=1000, currency="eur", distance_m=1500,
                base_minor=300, distance_fee_minor=180, size_fee_minor=0, surge_fee_minor=0,
                total_minor=480, courier_payout_minor=384, platform_fee_minor=96,
            )
        )  # fmt: skip
        pairs.append((tokens[user_id], tracking_token_for(job_pk=pk, salt=salt)))
    Job.objects.bulk_create(rows)
    return pairs


class Run:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.measuring = False
        self.sent = 0


async def tracker(url: str, run: Run, ready: asyncio.Event, stop: asyncio.Event) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, open_timeout=30, max_queue=None) as socket:
        await socket.recv()  # snapshot
        ready.set()
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(socket.recv(), 0.5)
            except TimeoutError:
                continue
            now = time.time()
            frame = json.loads(raw)
            # The bare app forwards the courier's own "location" frame unchanged.
            if frame.get("type") in ("courier_location", "location") and run.measuring:
                sent = datetime.fromisoformat(frame["recorded_at"]).timestamp()
                run.latencies.append((now - sent) * 1000)


async def courier(url: str, headers: dict, rate: float, run: Run, stop: asyncio.Event) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, additional_headers=headers, open_timeout=30) as socket:
        if "/ws/courier/" in url:
            await socket.recv()  # hello
        step, lat, lng = 1.0 / rate, 52.515, 13.41
        next_at = time.monotonic()
        while not stop.is_set():
            lat += 0.00001
            body = {"type": "location", "lat": lat, "lng": lng,
                    "recorded_at": datetime.now(UTC).isoformat(), "accuracy_m": 5}  # fmt: skip
            await socket.send(json.dumps(body))
            if run.measuring:
                run.sent += 1
            next_at += step
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def phase(base: str, bare: bool, pairs: list, rate: float, shape: str, args: Any,
                pids: dict[str, list[int]]) -> dict[str, Any]:  # fmt: skip
    run, stop = Run(), asyncio.Event()
    if shape == "1:1":
        jobs = max(1, round(rate / args.per_courier))
        chosen, per_courier, trackers_per_job = pairs[:jobs], rate / jobs, 1
    else:
        chosen, per_courier, trackers_per_job = pairs[:1], rate, args.trackers
    tasks, readies = [], []
    for index, (_, track_token) in enumerate(chosen):
        for _ in range(trackers_per_job):
            ready = asyncio.Event()
            readies.append(ready)
            path = f"/track/{index}" if bare else f"/ws/track/{track_token}/"
            tasks.append(asyncio.ensure_future(tracker(base + path, run, ready, stop)))
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
    for index, (courier_key, _) in enumerate(chosen):
        path = f"/courier/{index}" if bare else "/ws/courier/"
        headers = {"Authorization": f"Token {courier_key}"}
        tasks.append(asyncio.ensure_future(courier(base + path, headers, per_courier, run, stop)))
    await asyncio.sleep(WARMUP_SECONDS)
    cpu0 = {name: cpu_seconds(p) for name, p in pids.items()}
    started = time.monotonic()
    run.measuring = True
    await asyncio.sleep(args.seconds)
    run.measuring = False
    elapsed = time.monotonic() - started
    cpu = {name: (cpu_seconds(p) - cpu0[name]) / elapsed for name, p in pids.items()}
    await asyncio.sleep(DRAIN_SECONDS)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    values = run.latencies
    expected = run.sent * trackers_per_job
    return {
        "shape": shape, "rate": rate, "sockets": len(chosen) * (1 + trackers_per_job),
        "frames_per_s": len(values) / elapsed,
        "delivered": len(values) / expected if expected else 0,
        "p50": common.percentile(values, 50), "p99": common.percentile(values, 99),
        "max": max(values) if values else float("nan"), "cpu": cpu,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rates", default="250,500,1000,2000")
    parser.add_argument("--per-courier", type=float, default=4.0, help="1:1 pings/s per courier")
    parser.add_argument("--trackers", type=int, default=50, help="1:many trackers on the job")
    parser.add_argument("--shapes", default="1:1,1:many")
    parser.add_argument("--skip", default="", help="comma list: real,bare")
    parser.add_argument(
        "--server-workers", type=int, default=1, help="uvicorn --workers for both servers"
    )
    args = parser.parse_args()
    common.setup(FANOUT_DB)
    print(common.machine(), flush=True)
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    rates = [float(r) for r in args.rates.split(",") if r]
    shapes = [s for s in args.shapes.split(",") if s]
    jobs_needed = max(round(r / args.per_courier) for r in rates)
    pairs = prepare(jobs_needed)
    skip = set(filter(None, args.skip.split(",")))
    results = []
    for label, app in (("real", "marketplace.asgi:application"), ("bare", "bench.bare_fanout:app")):
        if label in skip:
            continue
        for shape in shapes:
            # A little under the ping spacing, so send jitter never lands two in one window.
            interval = str(0.8 / args.per_courier) if shape == "1:1" else "0"
            # Every socket comes from this one address: lift the per-address connect limit.
            env = {
                "TRACKING_BROADCAST_INTERVAL_SECONDS": interval,
                "TRACKING_RATE_PER_ADDRESS": "1000000/min",
                "TRACKING_RATE_PER_TOKEN": "1000000/min",
            }
            with server(app, env, args.server_workers) as (port, process):
                pids = {"server": server_pids(process.pid), "pg": postgres_pids(),
                        "redis": redis_pids(), "generator": [os.getpid()]}  # fmt: skip
                for rate in rates:
                    result = asyncio.run(
                        phase(
                            f"ws://127.0.0.1:{port}",
                            label == "bare",
                            pairs,
                            rate,
                            shape,
                            args,
                            pids,
                        )
                    )
                    result["app"] = label
                    results.append(result)
                    print(json.dumps(result), flush=True)
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(
        "\n| app | shape | offered pings/s | sockets | frames/s | delivered | p50 ms | p99 ms "
        "| max ms | CPU s/s server / PG / Redis / generator |"
    )
    print("|---" * 10 + "|")
    for r in results:
        cpu = " / ".join(f"{r['cpu'][name]:.2f}" for name in ("server", "pg", "redis", "generator"))
        print(
            f"| {r['app']} | {r['shape']} | {r['rate']:.0f} | {r['sockets']} "
            f"| {r['frames_per_s']:.0f} | {r['delivered']:.0%} | {r['p50']:.1f} "
            f"| {r['p99']:.1f} | {r['max']:.0f} | {cpu} |"
        )


if __name__ == "__main__":
    main()
