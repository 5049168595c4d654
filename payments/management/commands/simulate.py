"""``manage.py simulate``: drive the demo city through the public API and sockets, then check it."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.utils import timezone

from payments.demo.selectors import demo_city_logins, run_integrity, unsettled_job_count
from payments.demo.simulator import SimConfig, World, simulate
from payments.gateway import GatewayError, GatewayUnavailable

SETTLE_POLL_SECONDS = 0.5


def world_summary_line(world: World) -> str:
    summary = world.summary()
    jobs = ", ".join(f"{k} {v}" for k, v in summary["jobs"].items() if v) or "none"
    return f"Summary after {summary['seconds']} s: jobs posted {summary['posted']} ({jobs})."


class Command(BaseCommand):
    help = (
        "Drive the seeded demo city (seed_demo_city) as outside clients: robo couriers go "
        "online, stream positions and walk their jobs; sandbox shops post jobs; recipients "
        "follow them. Shows live progress, then a summary and the integrity counts (all "
        "zero, or the command exits 1)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--couriers", type=int, default=50, help="couriers to drive (50)")
        parser.add_argument(
            "--jobs-per-minute",
            type=float,
            default=10.0,
            help="jobs posted per wall-clock minute, all shops together (10)",
        )
        parser.add_argument(
            "--speed",
            type=float,
            default=1.0,
            help="simulated seconds per real second for movement and step delays",
        )
        parser.add_argument("--accept-probability", type=float, default=0.9)
        parser.add_argument(
            "--fail-probability",
            type=float,
            default=0.02,
            help="share of recipients not home: the parcel goes back",
        )
        parser.add_argument(
            "--duration", type=float, default=0.0, help="seconds of posting (0: until Ctrl-C)"
        )
        parser.add_argument(
            "--jobs", type=int, default=0, help="stop posting after this many jobs (0: no limit)"
        )
        parser.add_argument(
            "--drain",
            type=float,
            default=300.0,
            help="after posting stops, wait at most this long for jobs to end",
        )
        parser.add_argument(
            "--settle",
            type=float,
            default=60.0,
            help="then wait at most this long for captures and transfers",
        )
        parser.add_argument("--seed", type=int, default=1, help="the simulation's random seed")
        parser.add_argument(
            "--max-trip-m",
            type=float,
            default=3000.0,
            help="longest pickup-to-dropoff distance of a posted job",
        )
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument(
            "--links-file",
            default="",
            help="keep the tracking links of parcels on their way in this file",
        )
        parser.add_argument("--progress-interval", type=float, default=2.0)
        parser.add_argument("--summary-json", default="", help="also write the summary here")

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("accept_probability", "fail_probability"):
            if not 0 <= options[name] <= 1:
                raise CommandError(f"--{name.replace('_', '-')} must be between 0 and 1.")
        if options["speed"] <= 0 or options["couriers"] < 0 or options["jobs_per_minute"] < 0:
            raise CommandError("--speed must be positive; --couriers, --jobs-per-minute >= 0.")
        logins = demo_city_logins(couriers=options["couriers"])
        if not logins["shops"]:
            raise CommandError("No demo city here: run manage.py seed_demo_city first.")
        if len(logins["couriers"]) < options["couriers"]:
            raise CommandError(
                f"The demo city has {len(logins['couriers'])} robo couriers, not "
                f"{options['couriers']}: seed_demo_city --couriers {options['couriers']}."
            )
        config = SimConfig(
            base_url=options["base_url"].rstrip("/"),
            couriers=options["couriers"],
            jobs_per_minute=options["jobs_per_minute"],
            speed=options["speed"],
            accept_probability=options["accept_probability"],
            fail_probability=options["fail_probability"],
            duration=options["duration"],
            jobs=options["jobs"],
            drain=options["drain"],
            seed=options["seed"],
            max_trip_m=options["max_trip_m"],
            progress_interval=options["progress_interval"],
            links_file=options["links_file"],
        )
        # Stripe's objects carry whole seconds; a margin keeps this run's first ones in.
        since = timezone.now() - timedelta(seconds=5)
        self.stdout.write(
            f"Simulating {len(logins['shops'])} shops and {config.couriers} couriers at "
            f"{config.base_url} (speed x{config.speed:g}, {config.jobs_per_minute:g} jobs/min)."
        )
        world = asyncio.run(
            simulate(config, shops=logins["shops"], couriers=logins["couriers"], out=self.stdout)
        )
        job_ids = list(world.jobs)
        # Stopped by a signal, the server and the stand-in are likely stopping too.
        deadline = time.monotonic() + (0 if world.interrupted else options["settle"])
        try:
            while unsettled_job_count(job_ids=job_ids) and time.monotonic() < deadline:
                time.sleep(SETTLE_POLL_SECONDS)
            integrity = run_integrity(job_ids=job_ids, since=since)
        except (DatabaseError, GatewayError, GatewayUnavailable) as error:
            if not world.interrupted:
                raise
            self.stdout.write(world_summary_line(world))
            self.stdout.write(f"Stopped; the integrity counts were not taken ({error}).")
            return
        summary = {**world.summary(), "integrity": integrity["counts"]}
        self._print_summary(summary, integrity["differences"])
        if options["summary_json"]:
            with open(options["summary_json"], "w") as handle:
                json.dump({**summary, "differences": integrity["differences"]}, handle, indent=2)
        if any(integrity["counts"].values()):
            raise CommandError("Integrity counts are not all zero (see above).")

    def _print_summary(self, summary: dict[str, Any], differences: list[dict]) -> None:
        jobs = ", ".join(f"{k} {v}" for k, v in summary["jobs"].items() if v) or "none"
        offers = ", ".join(f"{k} {v}" for k, v in summary["offers"].items())
        tracking = summary["tracking"]
        lines = [
            "",
            f"Summary after {summary['seconds']} s (speed x{summary['speed']:g}):",
            f"  jobs posted {summary['posted']} ({jobs}); reposted {summary['reposts']}",
            f"  offers: {offers}",
            f"  median time to assign {summary['median_assign_s']} s, "
            f"to deliver {summary['median_deliver_s']} s",
            f"  positions sent {summary['positions_sent']}; tracking sockets "
            f"{tracking['sockets']}, frames {tracking['frames']} "
            f"({tracking['courier_locations']} courier positions)",
        ]
        if summary["errors"]:
            lines.append(
                "  refusals and errors: "
                + ", ".join(f"{k} {v}" for k, v in sorted(summary["errors"].items()))
            )
        lines.append("Integrity (each must be 0):")
        lines += [f"  {name:45} {count}" for name, count in summary["integrity"].items()]
        lines += [f"  difference: {difference}" for difference in differences]
        self.stdout.write("\n".join(lines))
