"""What the parties hear (socket frames), the recipient's problem report becoming a dispute,
and the periodic sweep (directly and on a real worker cluster)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from django_q.tasks import async_task

from jobs.models import JobStatus
from marketplace.asgi import application
from payments.disputes.services import dispute_open, disputes_sweep
from payments.models import Dispute, DisputeAction, DisputeMessage
from tests.jobs.tracking_helpers import track_url, tracked_job
from tests.payments.disputes.conftest import shop_dispute
from tests.workers import wait_for


async def _socket(path: str, user) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        application, path, headers=[(b"authorization", f"Token {user.auth_token.key}".encode())]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def _frame(communicator: WebsocketCommunicator, wanted) -> dict:
    while True:
        frame = await communicator.receive_json_from(timeout=10)
        if wanted(frame):
            return frame


@pytest.mark.django_db(transaction=True)
def test_shop_and_courier_sockets_hear_of_the_dispute(delivered_job, shop_member, carrier) -> None:
    async def scenario() -> tuple[dict, dict]:
        courier_socket = await _socket("/ws/courier/", carrier.user)
        shop_socket = await _socket("/ws/shop/", shop_member)
        await _frame(courier_socket, lambda f: f["type"] == "hello")
        dispute = await database_sync_to_async(shop_dispute)(delivered_job, shop_member, fee=100)
        to_courier = await _frame(courier_socket, lambda f: f["type"] == "dispute")
        to_shop = await _frame(shop_socket, lambda f: f["type"].startswith("dispute."))
        await courier_socket.disconnect()
        await shop_socket.disconnect()
        assert to_courier["dispute"]["id"] == str(dispute.pk)
        return to_courier, to_shop

    to_courier, to_shop = asyncio.run(scenario())
    assert (to_courier["event"], to_courier["job_id"]) == ("dispute.opened", str(delivered_job.pk))
    assert (to_courier["dispute"]["state"], to_courier["dispute"]["claim"]["fee_minor"]) == (
        "awaiting_courier",
        100,
    )
    assert to_shop["type"] == "dispute.opened"
    assert to_shop["data"]["details"]["dispute"]["id"] == to_courier["dispute"]["id"]


@pytest.mark.django_db(transaction=True)
def test_a_couriers_own_dispute_reaches_only_the_courier(
    delivered_job, shop_member, carrier
) -> None:
    def courier_opens() -> Dispute:
        return dispute_open(
            job=delivered_job,
            opener="courier",
            actor=carrier.user,
            reason="wrong_address",
            description="The drop-off was two streets away.",
            claim_value_minor=0,
            claim_fee_minor=0,
            claim_tip_minor=0,
        )

    async def scenario() -> tuple[dict, dict, Dispute]:
        courier_socket = await _socket("/ws/courier/", carrier.user)
        shop_socket = await _socket("/ws/shop/", shop_member)
        await _frame(courier_socket, lambda f: f["type"] == "hello")
        await _frame(shop_socket, lambda f: f["type"] == "snapshot")
        dispute = await database_sync_to_async(courier_opens)()
        to_courier = await _frame(courier_socket, lambda f: f["type"] == "dispute")
        # The shop's next frame answers its ping: nothing about the dispute came before it.
        await shop_socket.send_json_to({"type": "ping", "id": "after"})
        to_shop = await shop_socket.receive_json_from(timeout=10)
        await courier_socket.disconnect()
        await shop_socket.disconnect()
        return to_courier, to_shop, dispute

    to_courier, to_shop, dispute = asyncio.run(scenario())
    assert sorted(to_courier) == ["at", "dispute", "event", "job_id", "type"]
    assert (to_courier["event"], to_courier["job_id"]) == ("dispute.opened", str(delivered_job.pk))
    assert (to_courier["dispute"]["id"], to_courier["dispute"]["opener"]) == (
        str(dispute.pk),
        "courier",
    )
    assert to_shop == {"type": "pong", "id": "after"}


@pytest.mark.django_db
def test_sweep_moves_overdue_disputes_to_review_and_flags_the_late_once(
    delivered_job, shop_member
) -> None:
    dispute = shop_dispute(delivered_job, shop_member)
    assert disputes_sweep() == {"moved_to_review": 0, "sla_breached": 0}

    later = dispute.courier_reply_due_at + timedelta(seconds=1)
    assert disputes_sweep(now=later) == {"moved_to_review": 1, "sla_breached": 0}
    dispute.refresh_from_db()
    assert (dispute.state, dispute.is_sla_breached) == ("under_review", False)
    assert disputes_sweep(now=later) == {"moved_to_review": 0, "sla_breached": 0}

    past_sla = dispute.review_due_at + timedelta(seconds=1)
    assert disputes_sweep(now=past_sla) == {"moved_to_review": 0, "sla_breached": 1}
    assert disputes_sweep(now=past_sla) == {"moved_to_review": 0, "sla_breached": 0}
    dispute.refresh_from_db()
    assert (dispute.state, dispute.is_sla_breached) == ("under_review", True)
    assert list(dispute.actions.values_list("kind", "from_state", "to_state")) == [
        ("open", "open", "awaiting_courier"),
        ("review_due", "awaiting_courier", "under_review"),
        ("sla_breached", "under_review", "under_review"),
    ]


@pytest.mark.django_db(transaction=True)
def test_the_sweep_task_runs_on_a_real_cluster(delivered_job, shop_member, worker_cluster) -> None:
    dispute = shop_dispute(delivered_job, shop_member)
    Dispute.objects.filter(pk=dispute.pk).update(
        courier_reply_due_at=timezone.now() - timedelta(minutes=1)
    )
    async_task("payments.disputes.tasks.disputes_sweep_task", group="payments")
    assert wait_for(lambda: Dispute.objects.get(pk=dispute.pk).state == "under_review", 60)
    assert DisputeAction.objects.filter(dispute=dispute, kind="review_due").count() == 1


@pytest.mark.django_db
def test_a_recipient_problem_report_becomes_their_dispute(api_client) -> None:
    job, token = tracked_job(JobStatus.AT_DROPOFF)
    response = api_client.post(
        track_url(token, "problem"), {"reason": "not_received", "text": "Nothing came."}
    )
    assert response.status_code == 200
    dispute = Dispute.objects.get()
    assert (dispute.opener, dispute.opened_by, dispute.reason, dispute.description) == (
        "recipient",
        None,
        "never_delivered",
        "Nothing came.",
    )
    assert (dispute.state, dispute.claim_total_minor) == ("awaiting_courier", 0)
    assert dispute.recipient_problem.job_id == job.pk
    # A second report while it is open is a message on the same dispute.
    again = api_client.post(track_url(token, "problem"), {"reason": "damaged", "text": "And wet."})
    assert again.status_code == 200
    assert Dispute.objects.count() == 1
    assert list(DisputeMessage.objects.values_list("party", "text")) == [
        ("recipient", "Damaged: And wet.")
    ]
