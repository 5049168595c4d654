"""What the parties hear about a dispute: its public shape, socket frames and shop webhooks.

``dispute_notify`` runs inside the service's transaction, which holds the job's row lock.
It records a ``dispute`` job event (``jobs.lifecycle.job_record_event``), so the shop gets
the ``dispute.<what>`` webhook through the jobs webhook outbox and the same envelope on its
socket, and the courier a ``dispute`` frame, all after commit. A courier's own contest of
a claw-back is between the courier and the platform: only the courier's socket hears it.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from jobs.lifecycle import job_record_event
from jobs.models import ActorRole, EventKind
from marketplace.models import User
from marketplace.realtime.broadcast import broadcast_on_commit
from marketplace.realtime.groups import courier_group
from payments.models import Dispute, DisputeOpener


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def dispute_public(dispute: Dispute) -> dict[str, Any]:
    """The dispute as shops and couriers see it (no staff notes)."""
    return {
        "id": str(dispute.pk),
        "job_id": str(dispute.job_id),
        "opener": dispute.opener,
        "reason": dispute.reason,
        "description": dispute.description,
        "state": dispute.state,
        "claim": {
            "value_minor": dispute.claim_value_minor,
            "fee_minor": dispute.claim_fee_minor,
            "tip_minor": dispute.claim_tip_minor,
        },
        "currency": dispute.currency,
        "courier_reply_due_at": _iso(dispute.courier_reply_due_at),
        "resolution": dispute.resolution or None,
        "stripe_outcome": dispute.stripe_outcome or None,
        "created_at": _iso(dispute.created_at),
        "updated_at": _iso(dispute.updated_at),
        "resolved_at": _iso(dispute.resolved_at),
    }


def dispute_notify(
    *, dispute: Dispute, event: str, actor: User | None = None, as_job_event: bool = True
) -> None:
    """Queue the webhook and frames for ``event`` (``dispute.<what>``); ``dispute.job`` must
    be the job row the caller locked. ``as_job_event=False`` tells only the courier: the
    recipient's dispute opened from a problem report, which the shop hears of as the
    report's own ``job.problem_reported`` event."""
    body = dispute_public(dispute)
    frame = {"type": "dispute", "event": event, "dispute": body}
    job = dispute.job
    if dispute.opener == DisputeOpener.COURIER or not as_job_event:
        # Not a job event (the shop does not hear of it), so there is no ``seq`` to give.
        if job.courier_id is not None:
            at = timezone.now().isoformat()
            broadcast_on_commit(
                [courier_group(job.courier_id)], {**frame, "job_id": str(job.pk), "at": at}
            )
        return
    job_record_event(
        job=job,
        kind=EventKind.DISPUTE,
        actor=actor,
        actor_role=None if actor is not None else ActorRole.SYSTEM,
        reason=event,
        data={"type": event, "dispute": body},
        courier_payload=frame,
    )
