"""One simulation run: sign everyone in, start the actors, show progress, stop, summarise.

The run posts for ``duration`` seconds (or until ``jobs`` were posted, or until it is
stopped), then waits at most ``drain`` seconds for the posted jobs to end, then stops the
actors. A signal (Ctrl-C, SIGTERM) stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import IO

from payments.demo.simulator.client import Api, sign_in
from payments.demo.simulator.courier import CourierBot
from payments.demo.simulator.progress import progress_lines
from payments.demo.simulator.shop import ShopBot
from payments.demo.simulator.world import SimConfig, World

READY_TIMEOUT_SECONDS = 120.0
SIGN_IN_CONCURRENCY = 8


async def simulate(
    config: SimConfig,
    *,
    shops: list[tuple[str, str]],
    couriers: list[tuple[str, str]],
    out: IO[str] = sys.stdout,
) -> World:
    """Run the city until done or stopped; the world with everything counted."""
    world = World(config)
    loop = asyncio.get_running_loop()
    for name in ("SIGINT", "SIGTERM"):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(getattr(signal, name), world.interrupt)
    executor = ThreadPoolExecutor(max_workers=min(64, len(shops) + len(couriers) + 8))
    apis: list[Api] = []
    tasks: list[asyncio.Task] = []
    courier_bots: list[CourierBot] = []
    try:
        tokens = await _sign_in_all(config.base_url, executor, shops + couriers)
        for username, _ in couriers:
            api = Api(config.base_url, executor, tokens[username])
            apis.append(api)
            courier_bots.append(CourierBot(world, username, api))
        rate = config.jobs_per_minute / max(len(shops), 1)
        shop_bots = []
        for username, _ in shops:
            api = Api(config.base_url, executor, tokens[username])
            apis.append(api)
            shop_bots.append(ShopBot(world, username, api, rate))
        if not courier_bots:
            world.couriers_ready.set()
        tasks = [asyncio.create_task(_guarded(world, bot.run(), bot.username)) for bot in
                 courier_bots + shop_bots]  # fmt: skip
        await _drive(world, out)
    finally:
        world.stopping.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if not world.interrupted:
            # Signed off as an app would; one still holding a job is refused (409).
            await asyncio.gather(
                *(bot.go_offline() for bot in courier_bots), return_exceptions=True
            )
        for api in apis:
            api.close()
        executor.shutdown(wait=False, cancel_futures=True)
        for name in ("SIGINT", "SIGTERM"):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(getattr(signal, name))
    return world


async def _sign_in_all(
    base_url: str, executor: ThreadPoolExecutor, logins: list[tuple[str, str]]
) -> dict[str, str]:
    gate = asyncio.Semaphore(SIGN_IN_CONCURRENCY)

    async def one(username: str, password: str) -> tuple[str, str]:
        async with gate:
            return username, await sign_in(base_url, executor, username, password)

    return dict(await asyncio.gather(*(one(u, p) for u, p in logins)))


async def _guarded(world: World, work: object, who: str) -> None:
    """An actor that fails is counted and stops; the others go on."""
    try:
        await work  # type: ignore[misc]
    except asyncio.CancelledError:
        raise
    except Exception as error:  # one actor's failure must not end the run
        world.errors[f"actor_failed_{type(error).__name__}"] += 1
        print(f"  {who} stopped: {error}", file=sys.stderr, flush=True)


async def _drive(world: World, out: IO[str]) -> None:
    """Progress every interval; end of posting, drain and stop as configured."""
    config = world.config
    printed = 0
    posting_ends = config.duration or None
    drain_ends: float | None = None
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(world.couriers_ready.wait(), timeout=READY_TIMEOUT_SECONDS)
    if not world.couriers_ready.is_set():
        world.errors["couriers_not_ready"] += 1
    world.started_at = time.monotonic()  # the run's clock starts when couriers are out
    while not world.stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(world.stopping.wait(), timeout=config.progress_interval)
        elapsed = world.elapsed()
        if posting_ends is not None and elapsed >= posting_ends:
            world.posting_done.set()
        if world.posting_done.is_set():
            drain_ends = drain_ends or elapsed + config.drain
            if not world.open_jobs() or elapsed >= drain_ends:
                world.stopping.set()
        printed = _show(world, out, printed)
        _write_links(world)
    _show(world, out, printed)


def _show(world: World, out: IO[str], printed: int) -> int:
    lines = progress_lines(world)
    # On a terminal the table is redrawn in place; in a log it is appended.
    rewind = f"\x1b[{printed}F\x1b[J" if printed and out.isatty() else ""
    out.write(rewind + "\n".join(lines) + "\n")
    out.flush()
    return len(lines)


def _write_links(world: World) -> None:
    """The links file (``--links-file``): tracking links whose courier is on the way now."""
    path = world.config.links_file
    if not path:
        return
    links = world.moving_links()[:10]
    temporary = f"{path}.tmp"
    with open(temporary, "w") as handle:
        handle.write("".join(f"{link}\n" for link in links))
    os.replace(temporary, path)
