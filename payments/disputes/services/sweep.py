"""The periodic pass over open disputes: past the courier's reply time to review, past the
review SLA flagged (once)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from payments.disputes.events import dispute_notify
from payments.disputes.services.core import action_record, dispute_lock, dispute_move
from payments.models import Dispute, DisputeActionKind, DisputeState
from payments.models.disputes import OPEN_STATES

BATCH = 500


def disputes_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Move on every dispute whose courier did not reply in time, and flag every open one
    past its review deadline. Each dispute in its own transaction, under its row lock, with
    the condition checked again, so two sweeps (or a late reply) never act twice."""
    now = now or timezone.now()
    moved = flagged = 0
    overdue = Dispute.objects.filter(
        state=DisputeState.AWAITING_COURIER, courier_reply_due_at__lt=now
    ).values_list("pk", flat=True)[:BATCH]
    for pk in list(overdue):
        with transaction.atomic():
            dispute = dispute_lock(pk)
            if dispute.state != DisputeState.AWAITING_COURIER or not (
                dispute.courier_reply_due_at and dispute.courier_reply_due_at < now
            ):
                continue
            dispute_move(dispute, DisputeState.UNDER_REVIEW)
            action_record(
                dispute=dispute,
                actor=None,
                kind=DisputeActionKind.REVIEW_DUE,
                from_state=DisputeState.AWAITING_COURIER,
                key=f"dispute:{dispute.pk}:review_due:{dispute.courier_reply_due_at.isoformat()}",
                party="staff",
            )
            dispute_notify(dispute=dispute, event="dispute.under_review")
            moved += 1
    late = Dispute.objects.filter(
        state__in=OPEN_STATES, is_sla_breached=False, review_due_at__lt=now
    ).values_list("pk", flat=True)[:BATCH]
    for pk in list(late):
        with transaction.atomic():
            dispute = dispute_lock(pk)
            if dispute.is_sla_breached or not dispute.is_open:
                continue
            dispute_move(dispute, dispute.state, is_sla_breached=True)
            action_record(
                dispute=dispute,
                actor=None,
                kind=DisputeActionKind.SLA_BREACHED,
                from_state=dispute.state,
                key=f"dispute:{dispute.pk}:sla_breached",
                party="staff",
            )
            flagged += 1
    return {"moved_to_review": moved, "sla_breached": flagged}
