"""What the money actions share: resolving the dispute, and one action of each kind."""

from __future__ import annotations

from django.utils import timezone

from payments.disputes.selectors import (
    refund_attempts,
)
from payments.disputes.services.core import (
    dispute_move,
)
from payments.disputes.services.errors import (
    DisputeStateError,
)
from payments.models import (
    Dispute,
    DisputeActionKind,
    DisputeState,
)
from payments.models.disputes import REFUND_KINDS

K = DisputeActionKind


def _settle(dispute: Dispute, resolution: str) -> None:
    """The first money action resolves an open dispute; later ones leave it resolved. A
    chargeback stays where it is: Stripe's outcome resolves it."""
    if dispute.is_open and not dispute.is_chargeback:
        dispute_move(
            dispute, DisputeState.RESOLVED, resolution=resolution, resolved_at=timezone.now()
        )
    else:
        dispute_move(dispute, dispute.state)


def _refusable(dispute: Dispute, kind: str) -> None:
    if dispute.state == DisputeState.REJECTED:
        raise DisputeStateError("A rejected dispute moves no money.")
    if kind in REFUND_KINDS:
        has_one = refund_attempts(dispute=dispute)[1]  # a refund Stripe refused does not count
    else:
        has_one = dispute.actions.filter(kind__in=_same_kind(kind)).exists()
    if has_one:
        raise DisputeStateError(f"This dispute already has a {kind.replace('_', ' ')}.")


def _same_kind(kind: str) -> tuple[str, ...]:
    return (
        (K.FULL_REFUND, K.PARTIAL_REFUND) if kind in (K.FULL_REFUND, K.PARTIAL_REFUND) else (kind,)
    )
