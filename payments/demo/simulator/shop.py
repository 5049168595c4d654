"""A sandbox shop posting jobs at a steady random rate, and its recipients following them.

Each job gets a mix of the delivery options (a hand-over with or without a PIN, at the
door with a photo, a locker, another address) and of windows (as soon as possible, a
deliver-by time, a pickup a few minutes out). The shop watches its socket for every job
event, reposts jobs nobody took, and gives each recipient the tracking link, which they
open on the tracking socket until the job ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from websockets.exceptions import ConnectionClosed

from payments.demo.plan import FIRST_NAMES, LAST_NAMES, offset, street_address
from payments.demo.simulator.client import Api, open_socket
from payments.demo.simulator.world import FINAL_STATUSES, JobRecord, World

MIN_TRIP_M = 300.0
REPOST_AFTER_SECONDS = 60.0  # simulated
REPOST_MIN_REAL_SECONDS = 2.0
REPOSTS_BEFORE_CANCEL = 3
PACKAGES = [("small", 0.6), ("medium", 0.85), ("large", 0.95), ("xl", 1.0)]
OPTIONS = [
    ("hand_to_recipient", 0.25),
    ("hand_to_recipient_pin", 0.45),
    ("leave_at_door", 0.70),
    ("locker", 0.85),
    ("alternate_location", 1.0),
]


def _pick(rng: random.Random, table: list[tuple[str, float]]) -> str:
    draw = rng.random()
    return next(name for name, share in table if draw < share)


class ShopBot:
    def __init__(self, world: World, username: str, api: Api, rate_per_minute: float) -> None:
        self.world = world
        self.username = username
        self.api = api
        self.rate_per_second = rate_per_minute / 60.0
        self.rng = random.Random(f"{world.config.seed}:shop:{username}")
        self.pickup: dict[str, Any] = {}
        self.trackers: set[asyncio.Task] = set()

    async def run(self) -> None:
        self.world.shops_running += 1
        try:
            await self._run()
        finally:
            self.world.shops_running -= 1
            if not self.world.shops_running:
                self.world.posting_done.set()  # no shop left to post

    async def _run(self) -> None:
        me = await self.api.ok("GET", "shop/me/")
        point = me["default_pickup_point"]
        self.pickup = {
            "address": me["default_pickup_address"] or me["name"],
            "lat": point["lat"],
            "lng": point["lng"],
            "contact_name": me["name"],
            "contact_phone": "+4930555000",
        }
        socket = asyncio.create_task(self._follow())
        try:
            await self.world.couriers_ready.wait()
            while self.world.may_post() and not self.world.stopping.is_set():
                if self.rate_per_second <= 0:
                    break
                wait = self.rng.expovariate(self.rate_per_second)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.world.posting_done.wait(), timeout=wait)
                if not self.world.may_post() or self.world.stopping.is_set():
                    break
                await self.post_one()
            await self.world.stopping.wait()
        finally:
            socket.cancel()
            for tracker in self.trackers:
                tracker.cancel()

    # --- posting ----------------------------------------------------------------------------

    def job_body(self) -> tuple[dict[str, Any], bool]:
        """A job to post, and whether its recipient will be out when the courier comes."""
        rng = self.rng
        distance = rng.uniform(MIN_TRIP_M, max(MIN_TRIP_M, self.world.config.max_trip_m))
        lat, lng = offset(
            self.pickup["lat"], self.pickup["lng"],
            distance_m=distance, bearing_deg=rng.uniform(0, 360),
        )  # fmt: skip
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        size = _pick(rng, PACKAGES)
        body: dict[str, Any] = {
            "pickup": self.pickup,
            "dropoff": {
                "address": street_address(rng),
                "lat": lat,
                "lng": lng,
                "contact_name": name,
                "contact_phone": "+4930555111",
            },
            "package": {
                "size": size,
                "weight_g": {"small": 800, "medium": 3000, "large": 9000, "xl": 20000}[size],
                "description": "Demo parcel",
            },
            "recipient": {"name": name, "phone": "+4930555111"},
            "external_ref": f"demo-{uuid.uuid4().hex[:12]}",
        }
        option = _pick(rng, OPTIONS)
        if option == "hand_to_recipient_pin":
            body.update(delivery_option="hand_to_recipient", pin_required=True)
        elif option == "locker":
            body.update(delivery_option="locker", locker_id=f"LOCKER-{rng.randint(1, 40):02d}")
        elif option == "alternate_location":
            alt_lat, alt_lng = offset(
                lat, lng, distance_m=rng.uniform(30, 120), bearing_deg=rng.uniform(0, 360)
            )
            body.update(
                delivery_option="alternate_location",
                alternate_location={"address": street_address(rng), "lat": alt_lat, "lng": alt_lng},
                alternate_note="With the neighbour, ground floor",
            )
        else:
            body["delivery_option"] = option
        window = rng.random()
        now = datetime.now(UTC)
        if window < 0.2:
            body["deliver_before"] = (now + timedelta(hours=2)).isoformat()
        elif window < 0.3:
            pickup_after = now + timedelta(minutes=rng.randint(1, 5))
            body["pickup_after"] = pickup_after.isoformat()
            body["deliver_before"] = (pickup_after + timedelta(hours=2)).isoformat()
        if rng.random() < 0.2:
            body["tip_minor"] = rng.choice([100, 200, 300])
        absent = rng.random() < self.world.config.fail_probability
        return body, absent

    async def post_one(self) -> None:
        if not self.world.post_reserve():
            return
        body, absent = self.job_body()
        status, job = await self.api.call(
            "POST", "jobs/", json_body=body, headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        if status != 201:
            self.world.post_release()
            code = job.get("code") if isinstance(job, dict) else None
            self.world.errors[f"post_{status}_{code}"] += 1
            return
        record = JobRecord(
            id=job["id"],
            shop=self.username,
            posted_at=time.monotonic(),
            delivery_option=body["delivery_option"],
            pin=job.get("recipient_pin"),
            locker_id=body.get("locker_id", ""),
            recipient_absent=absent,
            tracking_token=job["tracking_token"],
            tracking_url=job["tracking_url"],
            status=job["status"],
        )
        self.world.job_posted(record)
        self.world.counts["recipients_absent"] += absent
        tracker = asyncio.create_task(Recipient(self.world, record).follow())
        self.trackers.add(tracker)
        tracker.add_done_callback(self.trackers.discard)

    # --- the shop socket --------------------------------------------------------------------

    async def _follow(self) -> None:
        """Every job event of the shop: statuses for the table; unassigned jobs reposted."""
        backoff = 1.0
        while not self.world.stopping.is_set():
            try:
                socket = await open_socket(f"{self.world.config.ws_url}/ws/shop/", self.api.token)
                async with socket:
                    backoff = 1.0
                    async for raw in socket:
                        self._on_frame(json.loads(raw))
            except (ConnectionClosed, OSError, TimeoutError):
                self.world.errors["shop_socket_reconnects"] += 1
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    def _on_frame(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "snapshot":
            for job in frame.get("jobs", []):
                self.world.job_status(str(job["job_id"]), job["status"])
            return
        if not str(frame.get("type", "")).startswith("job."):
            return
        data = frame.get("data") or {}
        job_id, status = str(data.get("job_id")), data.get("status")
        if not status or data.get("from_status") == status:
            return
        self.world.job_status(job_id, status)
        if status == "unassigned" and job_id in self.world.jobs:
            task = asyncio.create_task(self._repost(job_id))
            self.trackers.add(task)
            task.add_done_callback(self.trackers.discard)

    async def _repost(self, job_id: str) -> None:
        """Nobody took it: try again a little later, a few times, then call it off."""
        record = self.world.jobs[job_id]
        await asyncio.sleep(
            max(REPOST_AFTER_SECONDS / self.world.config.speed, REPOST_MIN_REAL_SECONDS)
        )
        if record.reposts >= REPOSTS_BEFORE_CANCEL:
            status, _ = await self.api.call(
                "POST", f"jobs/{job_id}/cancel/", json_body={"reason": "No courier took it."}
            )
            self.world.counts["cancelled_unassigned" if status == 200 else f"cancel_{status}"] += 1
            return
        status, _ = await self.api.call("POST", f"jobs/{job_id}/repost/")
        if status == 200:
            self.world.counts["reposts"] += 1
            record.reposts += 1
        else:
            self.world.errors[f"repost_{status}"] += 1


class Recipient:
    """Someone waiting for a parcel with the link open: the tracking socket until the end."""

    def __init__(self, world: World, record: JobRecord) -> None:
        self.world = world
        self.record = record

    async def follow(self) -> None:
        url = f"{self.world.config.ws_url}/ws/track/{self.record.tracking_token}/"
        backoff = 2.0
        while self.record.status not in FINAL_STATUSES and not self.world.stopping.is_set():
            try:
                socket = await open_socket(url)
                self.world.counts["tracking_sockets"] += 1
                async with socket:
                    async for raw in socket:
                        frame = json.loads(raw)
                        self.world.counts["tracking_frames"] += 1
                        if frame.get("type") == "courier_location":
                            self.world.counts["tracking_locations"] += 1
                        if frame.get("status") in FINAL_STATUSES or frame.get("type") == "closed":
                            return
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
                if code in (4404, 4410):
                    return
                self.world.errors[f"tracking_closed_{code}"] += 1
            except (OSError, TimeoutError):
                self.world.errors["tracking_unreachable"] += 1
            # Back off (throttled, or the server restarted) and open the link again.
            await asyncio.sleep(backoff + math.fabs(self.world.rng.gauss(0, 1)))
            backoff = min(backoff * 2, 60.0)
