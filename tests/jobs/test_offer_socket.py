"""Offers over the courier socket: ``offer`` on dispatch, ``offer_withdrawn`` when it goes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from couriers.models import Courier
from jobs.dispatch import (
    dispatch_job,
    offer_accept,
    offer_frame,
    offers_sweep,
    offers_withdraw_for_courier,
)
from jobs.lifecycle import job_transition
from jobs.models import Job, JobStatus, Offer
from marketplace.asgi import application
from tests.jobs.dispatch_helpers import courier_at, pending_job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _dispatch_settings(settings) -> None:
    settings.DISPATCH_MODE = "broadcast"
    settings.DISPATCH_BROADCAST_SIZE = 2
    settings.DISPATCH_RADII_M = [3000, 6000, 12000]
    settings.OFFER_TTL_SECONDS = 30


async def connect(courier: Courier) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        application,
        "/ws/courier/",
        headers=[(b"authorization", f"Token {courier.user.auth_token.key}".encode())],
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
    return communicator


@database_sync_to_async
def two_couriers() -> tuple[Courier, Courier]:
    return courier_at(500), courier_at(1000)


@database_sync_to_async
def dispatch_new_job() -> tuple[Job, dict[int, Offer]]:
    job = pending_job()
    result = dispatch_job(job_pk=job.pk)
    return job, {
        o.courier_id: Offer.objects.select_related("job").get(pk=o.pk) for o in result.offers
    }


async def test_each_offered_courier_receives_the_offer_frame() -> None:
    first, second = await two_couriers()
    sockets = [await connect(first), await connect(second)]

    job, offers = await dispatch_new_job()

    for courier, socket in zip((first, second), sockets, strict=True):
        frame = await socket.receive_json_from(timeout=5)
        assert frame == offer_frame(offers[courier.pk])
        assert frame["type"] == "offer"
        assert frame["job_id"] == str(job.pk)
        assert frame["payout_minor"] == 509
        assert frame["currency"] == "eur"
    for socket in sockets:
        await socket.disconnect()


async def test_the_loser_gets_offer_withdrawn_and_the_winner_a_job_update() -> None:
    first, second = await two_couriers()
    winner_socket, loser_socket = await connect(first), await connect(second)
    job, offers = await dispatch_new_job()
    await winner_socket.receive_json_from(timeout=5)
    await loser_socket.receive_json_from(timeout=5)

    await database_sync_to_async(offer_accept)(offer_pk=offers[first.pk].pk, courier=first)

    assert await loser_socket.receive_json_from(timeout=5) == {
        "type": "offer_withdrawn",
        "offer_id": str(offers[second.pk].pk),
        "job_id": str(job.pk),
        "reason": "taken",
    }
    update = await winner_socket.receive_json_from(timeout=5)
    assert (update["type"], update["job_id"], update["status"]) == (
        "job_update",
        str(job.pk),
        "assigned",
    )
    assert await winner_socket.receive_nothing(timeout=0.3)
    await winner_socket.disconnect()
    await loser_socket.disconnect()


async def test_expiry_by_the_sweeper_tells_the_courier_and_offers_the_next() -> None:
    first, second = await two_couriers()

    @database_sync_to_async
    def sequential_offer_then_expire() -> tuple[Job, Offer]:
        job = pending_job(dispatch_mode="sequential")
        (offer,) = dispatch_job(job_pk=job.pk).offers
        return job, offer

    first_socket, second_socket = await connect(first), await connect(second)
    job, offer = await sequential_offer_then_expire()
    assert (await first_socket.receive_json_from(timeout=5))["offer_id"] == str(offer.pk)

    @database_sync_to_async
    def sweep_after_deadline() -> None:
        Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        offers_sweep()

    await sweep_after_deadline()

    assert await first_socket.receive_json_from(timeout=5) == {
        "type": "offer_withdrawn",
        "offer_id": str(offer.pk),
        "job_id": str(job.pk),
        "reason": "expired",
    }
    next_offer = await second_socket.receive_json_from(timeout=5)
    assert (next_offer["type"], next_offer["job_id"]) == ("offer", str(job.pk))
    await first_socket.disconnect()
    await second_socket.disconnect()


async def test_a_cancelled_job_and_a_courier_going_offline_withdraw_offers() -> None:
    first, second = await two_couriers()
    first_socket, second_socket = await connect(first), await connect(second)
    job, offers = await dispatch_new_job()
    await first_socket.receive_json_from(timeout=5)
    await second_socket.receive_json_from(timeout=5)

    await database_sync_to_async(offers_withdraw_for_courier)(courier=second)
    assert (await second_socket.receive_json_from(timeout=5))["reason"] == "courier_unavailable"

    @database_sync_to_async
    def cancel_and_pass() -> None:
        job_transition(job=job, to=JobStatus.CANCELLED, actor=None)
        dispatch_job(job_pk=job.pk)

    await cancel_and_pass()
    assert await first_socket.receive_json_from(timeout=5) == {
        "type": "offer_withdrawn",
        "offer_id": str(offers[first.pk].pk),
        "job_id": str(job.pk),
        "reason": "job_unavailable",
    }
    await first_socket.disconnect()
    await second_socket.disconnect()
