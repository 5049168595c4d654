"""The live progress table: jobs by state, couriers by state, offers a second, median times."""

from __future__ import annotations

from collections import Counter

from payments.demo.simulator.world import COURIER_STATES, JOB_STATUSES, World


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _row(title: str, counts: Counter, names: tuple[str, ...]) -> list[str]:
    shown = [name for name in names if counts.get(name)]
    if not shown:
        return [f"  {title:9} (none)"]
    width = max(len(name) for name in shown)
    cells = [f"{name:>{width}} {counts[name]:>4}" for name in shown]
    return [f"  {title:9} " + "   ".join(cells[i : i + 4]) for i in range(0, len(cells), 4)]


def progress_lines(world: World) -> list[str]:
    counts = world.counts
    lines = [
        f"  t {world.elapsed():7.1f} s   speed x{world.config.speed:g}   posted {counts['posted']}"
        f"   offers/s {world.offers_per_second():.2f}"
        f"   median to assign {_seconds(world.median_assign_seconds())}"
        f"   to deliver {_seconds(world.median_deliver_seconds())}",
    ]
    lines += _row("jobs", world.jobs_by_status(), JOB_STATUSES)
    lines += _row("couriers", Counter(world.couriers.values()), COURIER_STATES)
    offers = "   ".join(
        f"{name} {counts[f'offers_{name}']}"
        for name in ("received", "accepted", "declined", "lost", "withdrawn")
    )
    lines.append(f"  offers    {offers}   positions {counts['positions_sent']}")
    if world.errors:
        errors = ", ".join(f"{name} {count}" for name, count in sorted(world.errors.items()))
        lines.append(f"  errors    {errors}")
    return lines
