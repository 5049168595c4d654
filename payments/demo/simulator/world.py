"""What the simulated actors share: the run's settings, its clock, the jobs and the counters.

The world stands for what the parties know outside the server: the shop's copy of each
job it posted (its PIN, whether the recipient will be home), what the recipients'
tracking sockets saw, and the tallies for the progress table. It never reads the
database; the server is reached only through the public API and sockets.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

FINAL_STATUSES = frozenset({"delivered", "returned", "cancelled"})
JOB_STATUSES = (
    "scheduled",
    "pending",
    "unassigned",
    "assigned",
    "at_pickup",
    "picked_up",
    "at_dropoff",
    "failed",
    "returning",
    "delivered",
    "returned",
    "cancelled",
)
COURIER_STATES = (
    "starting",
    "offline",
    "idle",
    "offered",
    "to_pickup",
    "at_pickup",
    "to_dropoff",
    "at_dropoff",
    "returning",
)
OFFER_RATE_WINDOW_SECONDS = 10.0


@dataclass(frozen=True)
class SimConfig:
    base_url: str
    couriers: int = 50
    jobs_per_minute: float = 10.0
    speed: float = 1.0
    accept_probability: float = 0.9
    fail_probability: float = 0.02
    duration: float = 0.0  # seconds of posting; 0 = until stopped
    jobs: int = 0  # stop posting after this many; 0 = no limit
    drain: float = 300.0  # after posting stops, wait this long at most for jobs to end
    seed: int = 1
    max_trip_m: float = 3000.0
    progress_interval: float = 2.0
    links_file: str = ""

    @property
    def ws_url(self) -> str:
        return "ws" + self.base_url.removeprefix("http")


@dataclass
class JobRecord:
    """The shop's copy of a job, and when things happened to it (monotonic seconds)."""

    id: str
    shop: str
    posted_at: float
    delivery_option: str
    pin: str | None
    locker_id: str
    recipient_absent: bool
    tracking_token: str
    tracking_url: str
    status: str = "pending"
    assigned_at: float | None = None
    ended_at: float | None = None
    reposts: int = 0


@dataclass
class World:
    config: SimConfig
    rng: random.Random = field(init=False)
    started_at: float = field(default_factory=time.monotonic)
    jobs: dict[str, JobRecord] = field(default_factory=dict)
    couriers: dict[str, str] = field(default_factory=dict)  # username -> state
    counts: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    offer_times: deque = field(default_factory=deque)
    shops_running: int = 0
    interrupted: bool = False
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    posting_done: asyncio.Event = field(default_factory=asyncio.Event)
    couriers_ready: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.config.seed}:world")

    def interrupt(self) -> None:
        """Ctrl-C or SIGTERM: stop at once, without waiting for jobs to end."""
        self.interrupted = True
        self.stopping.set()

    # --- time ---------------------------------------------------------------------------

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at

    async def sim_sleep(self, simulated_seconds: float) -> None:
        """Sleep for a stretch of simulated time (``--speed`` shortens it)."""
        await asyncio.sleep(max(0.0, simulated_seconds) / self.config.speed)

    # --- couriers -----------------------------------------------------------------------

    def courier_state(self, username: str, state: str) -> None:
        self.couriers[username] = state
        if not self.couriers_ready.is_set() and all(
            value not in ("starting", "offline") for value in self.couriers.values()
        ):
            self.couriers_ready.set()

    def offer_received(self) -> None:
        self.counts["offers_received"] += 1
        now = time.monotonic()
        self.offer_times.append(now)
        while self.offer_times and self.offer_times[0] < now - OFFER_RATE_WINDOW_SECONDS:
            self.offer_times.popleft()

    def offers_per_second(self) -> float:
        now = time.monotonic()
        recent = [t for t in self.offer_times if t >= now - OFFER_RATE_WINDOW_SECONDS]
        return len(recent) / min(OFFER_RATE_WINDOW_SECONDS, max(self.elapsed(), 1e-9))

    # --- jobs ---------------------------------------------------------------------------

    def may_post(self) -> bool:
        limit = self.config.jobs
        return not self.posting_done.is_set() and (not limit or self.counts["posting"] < limit)

    def post_reserve(self) -> bool:
        """Claim one of the ``--jobs`` before posting (shops post concurrently)."""
        if not self.may_post():
            return False
        self.counts["posting"] += 1
        return True

    def post_release(self) -> None:
        """The post failed: the claimed job may be posted again."""
        self.counts["posting"] -= 1

    def job_posted(self, record: JobRecord) -> None:
        self.jobs[record.id] = record
        self.counts["posted"] += 1
        if self.config.jobs and self.counts["posted"] >= self.config.jobs:
            self.posting_done.set()

    def job_status(self, job_id: str, status: str) -> None:
        """A status the shop was told (its socket); the first assignment and end are timed."""
        record = self.jobs.get(job_id)
        if record is None or record.status in FINAL_STATUSES:
            return
        record.status = status
        now = time.monotonic()
        if status == "assigned" and record.assigned_at is None:
            record.assigned_at = now
        if status in FINAL_STATUSES:
            record.ended_at = now

    def open_jobs(self) -> list[JobRecord]:
        return [job for job in self.jobs.values() if job.status not in FINAL_STATUSES]

    def jobs_by_status(self) -> Counter:
        return Counter(job.status for job in self.jobs.values())

    def median_assign_seconds(self) -> float | None:
        waits = [j.assigned_at - j.posted_at for j in self.jobs.values() if j.assigned_at]
        return statistics.median(waits) if waits else None

    def median_deliver_seconds(self) -> float | None:
        spans = [
            j.ended_at - j.posted_at
            for j in self.jobs.values()
            if j.status == "delivered" and j.ended_at is not None
        ]
        return statistics.median(spans) if spans else None

    def moving_links(self) -> list[str]:
        """Tracking links whose parcel is on its way: the recipient sees the courier move."""
        return [job.tracking_url for job in self.jobs.values() if job.status == "picked_up"]

    def summary(self) -> dict[str, Any]:
        statuses = self.jobs_by_status()
        return {
            "seconds": round(self.elapsed(), 1),
            "speed": self.config.speed,
            "jobs": {status: statuses.get(status, 0) for status in JOB_STATUSES},
            "posted": self.counts["posted"],
            "reposts": self.counts["reposts"],
            "recipients_absent": self.counts["recipients_absent"],
            "offers": {
                name: self.counts[f"offers_{name}"]
                for name in ("received", "accepted", "declined", "lost", "withdrawn")
            },
            "positions_sent": self.counts["positions_sent"],
            "tracking": {
                "sockets": self.counts["tracking_sockets"],
                "frames": self.counts["tracking_frames"],
                "courier_locations": self.counts["tracking_locations"],
            },
            "median_assign_s": _rounded(self.median_assign_seconds()),
            "median_deliver_s": _rounded(self.median_deliver_seconds()),
            "errors": dict(self.errors),
            "outcomes": [
                {"job_id": job.id, "status": job.status, "recipient_absent": job.recipient_absent}
                for job in self.jobs.values()
            ],
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
