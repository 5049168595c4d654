"""Position ingestion end to end: thousands of courier sockets against the real server.

Run: .venv/bin/python -m bench.ingest [--sockets 2000] [--seconds 10] [--batch 20]

Starts uvicorn (one process, as ``./dev run`` does) on loopback against the bench
database, opens ``--sockets`` courier sockets from this process (the load generator) and
sends ``location`` frames (one ping each) or ``locations`` frames (``--batch`` pings each):

- open loop at fixed offered rates (pings/s spread evenly over the sockets), and
- saturation (every socket sends as fast as the connection takes it).

Stored throughput and ping-to-stored latency come from the database: the bench database's
``couriers_locationping`` gets an extra ``bench_stored_at DEFAULT clock_timestamp()``
column (the app never names it), and latency is ``bench_stored_at - recorded_at`` where
``recorded_at`` is the generator's clock when it built the frame. The same load goes to
``bench.orm_asgi`` (one ORM save per ping) and to ``bench.bare_asgi`` (parses JSON only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import common

# Its own database, so it can run while bench.match holds bench_marketplace.
INGEST_DB = os.environ.get("BENCH_INGEST_DB", "bench_ingest")
WARMUP_SECONDS = 3.0
WINDOW = 4  # frames each socket may have unanswered in the flat-out phases
DRAIN_SECONDS = 3.0


@contextmanager
def server(app: str, *, workers: int = 1):
    """uvicorn serving ``app`` on a free loopback port, with the bench environment."""
    from tests.e2e_server import free_port

    port = free_port("127.0.0.1")
    env = {**os.environ, **common.bench_environment(), "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--lifespan",
        "off",
        "--no-access-log",
        "--log-level",
        "warning",
        "--ws-per-message-deflate",
        "false",
        *(["--workers", str(workers)] if workers > 1 else []),
    ]
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - outlives this block, closed below
        prefix="bench-uvicorn-", suffix=".log", delete=False
    )
    process = subprocess.Popen(command, cwd=common.ROOT, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except urllib.error.HTTPError:
                break  # it answers (503 without a worker is fine here)
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


def prepare_couriers(count: int) -> list[str]:
    """``count`` online couriers with API tokens; returns the tokens."""
    from django.db import connection

    common.truncate_couriers()
    common.bulk_load_couriers(count, recorded_at_sql="now() - interval '1 hour'")
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE couriers_locationping ADD COLUMN IF NOT EXISTS "
            "bench_stored_at timestamptz DEFAULT clock_timestamp()"
        )
        cursor.execute(
            """
            INSERT INTO authtoken_token (key, created, user_id)
            SELECT substr(md5(random()::text) || md5(random()::text), 1, 40), now(), user_id
            FROM couriers_courier
            RETURNING key
            """
        )
        return [row[0] for row in cursor.fetchall()]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (from /proc)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/comm") as comm:
                    if comm.read().strip() == "postgres":
                        pids.append(int(name))
            except OSError:
                continue
    return pids


def reset_pings() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE couriers_locationping")
        cursor.execute(
            "UPDATE couriers_courier SET position_recorded_at = now() - interval '1 hour', "
            "status = 'available'"
        )
        # Every flush is a non-HOT update of the couriers it moves (the point is indexed),
        # and this PostgreSQL runs with autovacuum = off: without this the table and its
        # indexes bloat phase after phase and later phases measure the bloat.
        cursor.execute("VACUUM (ANALYZE) couriers_courier")


def stored_stats(t0: datetime, t1: datetime) -> dict[str, float]:
    """Pings stored in [t0, t1) per second, and latency of pings recorded in that window."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM couriers_locationping WHERE bench_stored_at >= %s "
            "AND bench_stored_at < %s",
            [t0, t1],
        )
        (stored,) = cursor.fetchone()
        cursor.execute(
            """
            SELECT count(*),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY lat),
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY lat),
                   max(lat)
            FROM (
                SELECT extract(epoch FROM bench_stored_at - recorded_at) * 1000 AS lat
                FROM couriers_locationping WHERE recorded_at >= %s AND recorded_at < %s
            ) l
            """,
            [t0, t1],
        )
        recorded, p50, p99, worst = cursor.fetchone()
    return {
        "stored_per_s": stored / (t1 - t0).total_seconds(),
        "stored_of_recorded": recorded,
        "p50_ms": p50 or float("nan"),
        "p99_ms": p99 or float("nan"),
        "max_ms": worst or float("nan"),
    }


@dataclass
class Phase:
    name: str
    batch: int  # pings per frame; 1 sends "location" frames
    rate: float | None  # offered pings/s over all sockets; None = as fast as possible


class LoadGenerator:
    """Courier sockets and the loops that feed them."""

    def __init__(self, port: int, tokens: list[str]) -> None:
        self.url = f"ws://127.0.0.1:{port}/ws/courier/"
        self.tokens = tokens
        self.sockets: list[Any] = []
        self.positions: list[list[float]] = []
        self.sent_pings = 0
        self.errors: list[str] = []

    async def connect(self) -> None:
        import websockets

        gate = asyncio.Semaphore(100)
        west, south, east, north = common.CITY_BOX

        async def one(token: str) -> Any:
            async with gate:
                socket = await websockets.connect(
                    self.url,
                    additional_headers={"Authorization": f"Token {token}"},
                    compression=None,
                    open_timeout=60,
                    max_queue=None,
                    ping_interval=None,
                )
                await socket.recv()  # hello
                return socket

        started = time.perf_counter()
        self.sockets = await asyncio.gather(*(one(t) for t in self.tokens))
        self.positions = [
            [random.uniform(south, north), random.uniform(west, east)] for _ in self.sockets
        ]
        print(
            f"  {len(self.sockets)} sockets open in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        self.pongs = [asyncio.Queue() for _ in self.sockets]
        self.readers = [
            asyncio.create_task(self._read(s, q))
            for s, q in zip(self.sockets, self.pongs, strict=True)
        ]

    async def _read(self, socket: Any, pongs: asyncio.Queue) -> None:
        try:
            async for message in socket:
                if '"pong"' in message:
                    pongs.put_nowait(True)
                elif len(self.errors) < 5:
                    self.errors.append(message if isinstance(message, str) else "<binary>")
        except Exception:  # closed at the end of the run
            return

    def frame(self, index: int, batch: int) -> str:
        now = datetime.now(UTC)
        position = self.positions[index]
        items = []
        for i in range(batch):
            position[0] += 0.000002  # ~0.2 m north per ping: plausible for any vehicle
            items.append(
                {
                    "lat": position[0],
                    "lng": position[1],
                    "accuracy_m": 5.0,
                    "heading": 0.0,
                    "speed_mps": 4.0,
                    "recorded_at": (now + timedelta(microseconds=i)).isoformat(),
                }
            )
        if batch == 1:
            return json.dumps({"type": "location", **items[0]})
        return json.dumps({"type": "locations", "items": items})

    async def run(self, phase: Phase, seconds: float) -> None:
        stop = time.monotonic() + seconds
        count = len(self.sockets)

        async def paced(index: int) -> None:
            interval = count * phase.batch / phase.rate
            next_at = time.monotonic() + random.uniform(0, interval)
            while True:
                delay = next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if time.monotonic() >= stop:
                    return
                await self.sockets[index].send(self.frame(index, phase.batch))
                self.sent_pings += phase.batch
                next_at += interval

        async def flat_out(index: int) -> None:
            # Closed loop: WINDOW frames, then a ping; the pong proves the server handled
            # them (frames are handled in order). Without it, loopback TCP buffers absorb
            # megabytes per socket and "sent" says nothing about what the server keeps up with.
            socket, pongs = self.sockets[index], self.pongs[index]
            while time.monotonic() < stop:
                for _ in range(WINDOW):
                    await socket.send(self.frame(index, phase.batch))
                self.sent_pings += WINDOW * phase.batch
                await socket.send('{"type": "ping"}')
                await pongs.get()

        loop = paced if phase.rate else flat_out
        await asyncio.gather(*(loop(i) for i in range(count)))

    async def drain(self) -> None:
        """Wait until the server has handled every frame sent so far (a ping per socket)."""

        async def one(index: int) -> None:
            await self.sockets[index].send('{"type": "ping"}')
            await self.pongs[index].get()

        await asyncio.wait_for(
            asyncio.gather(*(one(i) for i in range(len(self.sockets)))), timeout=300
        )

    async def close(self) -> None:
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*(s.close() for s in self.sockets), return_exceptions=True)


async def measure_app(
    port: int, phase: Phase, seconds: float, gen: LoadGenerator, server_pid: int
) -> dict:
    """Warm up, then run ``seconds`` and report what the server stored (or parsed)."""
    is_bare = "bare" in phase.name
    await gen.run(phase, WARMUP_SECONDS)
    sent_before, cpu_before = gen.sent_pings, time.process_time()
    pg_pids = postgres_pids()
    server_cpu, pg_cpu = cpu_seconds([server_pid]), cpu_seconds(pg_pids)
    before = _bare_stats(port) if is_bare else None
    t0 = datetime.now(UTC)
    started = time.perf_counter()
    await gen.run(phase, seconds)
    elapsed = time.perf_counter() - started
    t1 = datetime.now(UTC)
    result: dict[str, Any] = {
        "offered_per_s": (gen.sent_pings - sent_before) / elapsed,
        "generator_cpu": (time.process_time() - cpu_before) / elapsed,
        "server_cpu": (cpu_seconds([server_pid]) - server_cpu) / elapsed,
        # Backends that exit mid-phase take their CPU with them: a lower bound, floored at 0.
        "postgres_cpu": max(0.0, cpu_seconds(pg_pids) - pg_cpu) / elapsed,
    }
    if is_bare:
        after = _bare_stats(port)
        result["frames_per_s"] = (after["frames"] - before["frames"]) / elapsed
        result["parsed_per_s"] = (after["items"] - before["items"]) / elapsed
        return result
    await gen.drain()  # every frame handled: the rest is up to the writer
    await asyncio.sleep(DRAIN_SECONDS)
    stats = await asyncio.to_thread(stored_stats, t0, t1)
    result.update(stats)
    result["frames_per_s"] = result["stored_per_s"] / phase.batch
    return result


def _bare_stats(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as response:
        return json.loads(response.read())


def report(name: str, result: dict) -> None:
    parts = [f"offered {result['offered_per_s']:,.0f} pings/s"]
    if "stored_per_s" in result:
        parts += [
            f"stored {result['stored_per_s']:,.0f} pings/s",
            f"p50 {result['p50_ms']:.0f} ms",
            f"p99 {result['p99_ms']:.0f} ms",
            f"max {result['max_ms']:.0f} ms",
        ]
    else:
        parts += [
            f"parsed {result['frames_per_s']:,.0f} frames/s ({result['parsed_per_s']:,.0f} pings)"
        ]
    parts.append(
        f"CPU: server {result['server_cpu'] * 100:.0f}%, PostgreSQL "
        f"{result['postgres_cpu'] * 100:.0f}%, generator {result['generator_cpu'] * 100:.0f}%"
    )
    print(f"  {name:34s} " + ", ".join(parts), flush=True)


async def run_app(app: str, phases: list[Phase], tokens: list[str], seconds: float) -> dict:
    results = {}
    with server(app) as (port, process):
        gen = LoadGenerator(port, tokens)
        await gen.connect()
        for phase in phases:
            await gen.drain()  # no backlog from the previous phase
            if "bare" not in phase.name:
                await asyncio.sleep(DRAIN_SECONDS)
                await asyncio.to_thread(reset_pings)
            result = await measure_app(port, phase, seconds, gen, process.pid)
            results[phase.name] = result
            report(phase.name, result)
        if gen.errors:
            print(f"  server said (first {len(gen.errors)}): {gen.errors}", flush=True)
        await gen.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=20, help="pings per batched frame")
    parser.add_argument(
        "--rates-batched", default="10000,20000,30000", help="offered pings/s, batched frames"
    )
    parser.add_argument(
        "--rates-single", default="2000,3000,5000", help="offered pings/s, one ping per frame"
    )
    parser.add_argument("--skip", default="", help="comma list: real,orm,bare")
    parser.add_argument("--no-flat-out", action="store_true", help="only the paced phases")
    args = parser.parse_args()
    common.setup(INGEST_DB)
    print(common.machine(), flush=True)
    print(f"== {args.sockets} courier sockets, {args.seconds:.0f} s per phase", flush=True)
    tokens = prepare_couriers(args.sockets)
    b = args.batch
    batched_rates = [float(r) for r in args.rates_batched.split(",") if r]
    single_rates = [float(r) for r in args.rates_single.split(",") if r]
    real = [Phase(f"real batched x{b} @ {r:.0f}/s", b, r) for r in batched_rates]
    real += [] if args.no_flat_out else [Phase(f"real batched x{b} flat out", b, None)]
    real += [Phase(f"real single @ {r:.0f}/s", 1, r) for r in single_rates]
    real += [] if args.no_flat_out else [Phase("real single flat out", 1, None)]
    orm = [Phase(f"orm batched x{b} flat out", b, None), Phase("orm single flat out", 1, None)]
    bare = [Phase(f"bare batched x{b} flat out", b, None), Phase("bare single flat out", 1, None)]
    skip = set(filter(None, args.skip.split(",")))
    results = {}
    for label, app, phases in (
        ("real", "marketplace.asgi:application", real),
        ("orm", "bench.orm_asgi:application", orm),
        ("bare", "bench.bare_asgi:app", bare),
    ):
        if label in skip:
            continue
        print(f"-- {app}", flush=True)
        results.update(asyncio.run(run_app(app, phases, tokens, args.seconds)))
    print(
        "\n| phase | offered pings/s | stored pings/s | frames/s | p50 | p99 | max "
        "| CPU server / PG / generator |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name, r in results.items():
        if "stored_per_s" in r:
            print(
                f"| {name} | {r['offered_per_s']:,.0f} | {r['stored_per_s']:,.0f} "
                f"| {r['frames_per_s']:,.0f} | {r['p50_ms']:.0f} ms | {r['p99_ms']:.0f} ms "
                f"| {r['max_ms']:.0f} ms | {_cpu(r)} |"
            )
        else:
            print(
                f"| {name} | {r['offered_per_s']:,.0f} | (parsed {r['parsed_per_s']:,.0f}) "
                f"| {r['frames_per_s']:,.0f} | - | - | - | {_cpu(r)} |"
            )


def _cpu(r: dict) -> str:
    return (
        f"{r['server_cpu'] * 100:.0f}% / {r['postgres_cpu'] * 100:.0f}% "
        f"/ {r['generator_cpu'] * 100:.0f}%"
    )


if __name__ == "__main__":
    main()
