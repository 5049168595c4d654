"""A robo courier as its phone app would be: online, streaming positions, answering offers,
walking each job from pickup to delivery (or back to the shop when nobody is home).

Movement is streamed over the courier socket, one fix a second while riding and a
heartbeat fix while standing. ``--speed`` makes the ride faster, but never faster than
the server believes a vehicle can go (``PLAUSIBLE_SHARE`` of ``VEHICLE_MAX_SPEED_MPS``):
an implausible fix would make the courier's position untrusted and take them out of
matching.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from payments.demo.plan import offset
from payments.demo.simulator.client import Api, open_socket, send_json
from payments.demo.simulator.photo import proof_photo
from payments.demo.simulator.routes import LatLng, Route, plan_route
from payments.demo.simulator.world import World

FIX_INTERVAL_SECONDS = 1.0
HEARTBEAT_SECONDS = 5.0
PLAUSIBLE_SHARE = 0.8
WANDER_RADIUS_M = 600
ACCURACY_M = 8.0
ACTIVE_STATUSES = ("assigned", "at_pickup", "picked_up", "at_dropoff", "failed", "returning")


class CourierBot:
    def __init__(self, world: World, username: str, api: Api) -> None:
        self.world = world
        self.username = username
        self.api = api
        self.rng = random.Random(f"{world.config.seed}:courier:{username}")
        self.offers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.withdrawn: set[str] = set()
        self.socket: ClientConnection | None = None
        self.position: LatLng = (0.0, 0.0)
        self.home: LatLng = (0.0, 0.0)
        self.vehicle = "bike"
        self.last_fix_at = 0.0
        self.last_recorded_at: datetime | None = None
        self.state = "starting"
        world.courier_state(username, "starting")

    def set_state(self, state: str) -> None:
        self.state = state
        self.world.courier_state(self.username, state)

    # --- life -----------------------------------------------------------------------------

    async def run(self) -> None:
        me = await self.api.ok("GET", "courier/me/")
        self.vehicle = me["vehicle"]
        point = me["current_point"]
        self.position = self.home = (point["lat"], point["lng"]) if point else self.position
        self.socket = await open_socket(f"{self.world.config.ws_url}/ws/courier/", self.api.token)
        hello = json.loads(await self.socket.recv())
        if hello.get("type") != "hello":
            await self.socket.close()
            raise RuntimeError(f"{self.username}: the socket said {hello!r} first")
        reader = asyncio.create_task(self._read())
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            await self.api.ok("POST", "courier/availability/", json_body={"online": True})
            await self.send_fix(self.position, heading=0.0, speed_mps=0.0)
            await self._resume()
            while not self.world.stopping.is_set():
                await self._idle()
        finally:
            reader.cancel()
            heartbeat.cancel()
            await self.socket.close()

    async def go_offline(self) -> None:
        status, _ = await self.api.call(
            "POST", "courier/availability/", json_body={"online": False}
        )
        self.set_state("offline" if status == 200 else self.state)

    async def _resume(self) -> None:
        """A job held from an earlier run is walked to its end first."""
        page = await self.api.ok("GET", "courier/jobs/")
        active = [job for job in page["results"] if job["status"] in ACTIVE_STATUSES]
        if active:
            await self._walk(active[0]["id"])

    async def _read(self) -> None:
        assert self.socket is not None
        try:
            async for raw in self.socket:
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "offer":
                    self.world.offer_received()
                    await self.offers.put(frame)
                elif kind == "offer_withdrawn":
                    self.withdrawn.add(frame["offer_id"])
                    self.world.counts["offers_withdrawn"] += 1
                elif kind == "error":
                    self.world.errors[f"courier_socket_{frame.get('code')}"] += 1
        except ConnectionClosed:
            if not self.world.stopping.is_set():
                self.world.errors["courier_socket_closed"] += 1

    async def _heartbeat(self) -> None:
        """A fix now and then while standing still, so the courier never goes stale."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            if time.monotonic() - self.last_fix_at >= HEARTBEAT_SECONDS - 1:
                await self.send_fix(self.position, heading=0.0, speed_mps=0.0)

    # --- idle: wander near home until an offer is taken -------------------------------------

    async def _idle(self) -> None:
        self.set_state("idle")
        wander = asyncio.create_task(self._wander())
        try:
            while not self.world.stopping.is_set():
                offer = await self._next_offer()
                if offer is None:
                    return
                wander.cancel()
                job_id = await self._answer(offer)
                if job_id is not None:
                    await asyncio.gather(wander, return_exceptions=True)
                    await self._walk(job_id)
                    return
                self.set_state("idle")
                if wander.done():
                    wander = asyncio.create_task(self._wander())
        finally:
            wander.cancel()

    async def _next_offer(self) -> dict[str, Any] | None:
        get = asyncio.create_task(self.offers.get())
        stop = asyncio.create_task(self.world.stopping.wait())
        done, _ = await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if get in done:
            return get.result()
        get.cancel()
        return None

    async def _wander(self) -> None:
        while True:
            lat, lng = offset(
                *self.home,
                distance_m=WANDER_RADIUS_M * self.rng.random(),
                bearing_deg=self.rng.uniform(0, 360),
            )
            await self.ride_to((lat, lng), pace=0.5)
            await self.world.sim_sleep(self.rng.uniform(20, 90))

    async def _answer(self, offer: dict[str, Any]) -> str | None:
        """Think, then accept or decline; the job id when this courier got it."""
        self.set_state("offered")
        offer_id = offer["offer_id"]
        await self.world.sim_sleep(self.rng.uniform(2, 8))
        expires_at = datetime.fromisoformat(offer["expires_at"])
        if offer_id in self.withdrawn or expires_at <= datetime.now(UTC):
            return None
        if self.rng.random() >= self.world.config.accept_probability:
            status, _ = await self.api.call(
                "POST", f"courier/offers/{offer_id}/decline/", json_body={"reason": "too far"}
            )
            self.world.counts["offers_declined" if status == 200 else "offers_lost"] += 1
            return None
        status, _ = await self.api.call("POST", f"courier/offers/{offer_id}/accept/")
        if status == 200:
            self.world.counts["offers_accepted"] += 1
            return offer["job_id"]
        if status == 409:
            self.world.counts["offers_lost"] += 1
        else:
            self.world.errors[f"accept_{status}"] += 1
        return None

    # --- a job, step by step -------------------------------------------------------------------

    async def _walk(self, job_id: str) -> None:
        job = await self.api.ok("GET", f"courier/jobs/{job_id}/")
        record = self.world.jobs.get(job_id)
        pickup = _latlng(job["pickup"]["point"])
        while True:
            status = job["status"]
            if status == "assigned":
                self.set_state("to_pickup")
                await self.ride_to(pickup)
                job = await self._step(job_id, "arrive-pickup")
            elif status == "at_pickup":
                self.set_state("at_pickup")
                await self.world.sim_sleep(self.rng.uniform(20, 60))
                job = await self._step(job_id, "pickup", barcode=f"PKG-{job_id[:8]}")
            elif status == "picked_up":
                self.set_state("to_dropoff")
                await self.ride_to(_latlng(job["proof_required"]["geofence_point"]))
                job = await self._step(job_id, "arrive-dropoff")
            elif status == "at_dropoff":
                self.set_state("at_dropoff")
                await self.world.sim_sleep(self.rng.uniform(10, 40))
                needs_pin = job["proof_required"]["pin"]
                absent = record.recipient_absent if record else needs_pin
                if absent or (needs_pin and not (record and record.pin)):
                    job = await self._step(job_id, "fail", reason="recipient_absent")
                else:
                    job = await self._deliver(job, record.pin if record else None)
            elif status in ("failed", "returning"):
                self.set_state("returning")
                await self.ride_to(pickup)
                job = await self._step(job_id, "returned")
            else:
                return
            if job is None:
                return

    async def _step(self, job_id: str, step: str, **fields: Any) -> dict[str, Any] | None:
        body = {"position": self._position_body(), **fields}
        status, answer = await self.api.call(
            "POST", f"courier/jobs/{job_id}/{step}/", json_body=body
        )
        if status == 200:
            return answer
        # Cancelled, rescheduled or otherwise moved on: look again, or let it go.
        self.world.errors[f"{step}_{status}"] += 1
        status, answer = await self.api.call("GET", f"courier/jobs/{job_id}/")
        return answer if status == 200 and answer["status"] in ACTIVE_STATUSES else None

    async def _deliver(self, job: dict[str, Any], pin: str | None) -> dict[str, Any] | None:
        proof = job["proof_required"]
        fields: dict[str, Any] = {}
        if proof["pin"] and pin:
            fields["pin"] = pin
        if proof["locker_id"]:
            fields["locker_id"] = job["locker_id"]
        if job["recipient"]["name"]:
            fields["recipient_name"] = job["recipient"]["name"]
        path = f"courier/jobs/{job['id']}/deliver/"
        if proof["photo"]:
            # A photo goes as multipart, where the position is a JSON string.
            fields["position"] = json.dumps(self._position_body())
            files = {"photo": ("door.png", proof_photo(job["id"]), "image/png")}
            status, answer = await self.api.call("POST", path, data=fields, files=files)
        else:
            fields["position"] = self._position_body()
            status, answer = await self.api.call("POST", path, json_body=fields)
        if status == 200:
            return answer
        self.world.errors[f"deliver_{status}_{(answer or {}).get('code')}"] += 1
        return await self._step(job["id"], "fail", reason="other", note="could not hand over")

    # --- moving -------------------------------------------------------------------------------

    def _max_speed_mps(self, route: Route, pace: float) -> float:
        """Metres of route geometry a second: the vehicle's speed times --speed, capped."""
        typical = settings.VEHICLE_SPEED_MPS.get(self.vehicle, 5.0)
        ceiling = settings.VEHICLE_MAX_SPEED_MPS.get(self.vehicle, 15.0) * PLAUSIBLE_SHARE
        return min(typical * pace * self.world.config.speed / route.slowdown, ceiling)

    async def ride_to(self, destination: LatLng, *, pace: float = 1.0) -> None:
        route = await asyncio.get_running_loop().run_in_executor(
            None, plan_route, self.position, destination, self.vehicle
        )
        speed = self._max_speed_mps(route, pace)
        started = time.monotonic()
        while True:
            await asyncio.sleep(FIX_INTERVAL_SECONDS)
            travelled = (time.monotonic() - started) * speed
            point, heading = route.at(travelled)
            await self.send_fix(point, heading=heading, speed_mps=speed)
            if travelled >= route.length_m:
                return

    async def send_fix(self, point: LatLng, *, heading: float, speed_mps: float) -> None:
        self.position = point
        now = datetime.now(UTC)
        if self.last_recorded_at is not None and now <= self.last_recorded_at:
            now = self.last_recorded_at + timedelta(milliseconds=1)
        self.last_recorded_at = now
        self.last_fix_at = time.monotonic()
        if self.socket is None:
            return
        frame = {
            "type": "location",
            "lat": round(point[0], 6),
            "lng": round(point[1], 6),
            "recorded_at": now.isoformat(),
            "accuracy_m": ACCURACY_M,
            "heading": round(heading, 1),
            "speed_mps": round(speed_mps, 2),
        }
        with contextlib.suppress(ConnectionClosed):
            await send_json(self.socket, frame)
            self.world.counts["positions_sent"] += 1

    def _position_body(self) -> dict[str, float]:
        return {"lat": round(self.position[0], 6), "lng": round(self.position[1], 6)}


def _latlng(point: dict[str, float]) -> LatLng:
    return point["lat"], point["lng"]
