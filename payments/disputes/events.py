"""What the parties hear about a dispute: its public shape, socket frames and shop webhooks.

``dispute_notify`` runs inside the service's transaction and sends after commit: a
``dispute`` frame to the shop's and the courier's socket groups. A courier's own contest of a
claw-back is between the courier and the platform: the shop hears nothing of it.
"""

from __future__ import annotations

from typing import Any

from marketplace.realtime.broadcast import broadcast_on_commit
from marketplace.realtime.groups import courier_group, shop_group
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


def dispute_notify(*, dispute: Dispute, event: str) -> None:
    """Queue the frames and the shop's webhook for ``event`` (``dispute.<what>``)."""
    body = dispute_public(dispute)
    frame = {"type": "dispute", "event": event, "dispute": body}
    groups = []
    courier_id = dispute.job.courier_id
    if courier_id is not None:
        groups.append(courier_group(courier_id))
    if dispute.opener != DisputeOpener.COURIER:
        groups.append(shop_group(dispute.job.shop_id))
    broadcast_on_commit(groups, frame)
