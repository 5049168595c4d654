"""The courier's reply, rejecting a claim, and asking a party for more information."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.photos import ProofImage
from marketplace.models import User
from payments.disputes import permissions as perms
from payments.disputes.events import dispute_notify
from payments.disputes.services.core.common import (
    K,
    _check_key,
    _check_text,
    action_record,
    action_replay,
    dispute_lock,
    dispute_move,
    photos_store,
    require,
)
from payments.disputes.services.errors import (
    DisputeInvalidInput,
    DisputeNotFound,
    DisputeStateError,
)
from payments.models import (
    Dispute,
    DisputeAction,
    DisputeMessage,
    DisputeParty,
    DisputeResolution,
    DisputeState,
)


def dispute_courier_reply(
    *, dispute: Dispute | Any, actor: User, statement: str, photos: Sequence[ProofImage] = ()
) -> DisputeMessage:
    """The courier's side, while the dispute waits for it (until ``courier_reply_due_at``);
    the dispute goes to review. Someone else's dispute is a 404."""
    statement = _check_text("statement", statement, required=True)
    with transaction.atomic():
        locked = dispute_lock(dispute)
        courier = getattr(actor, "courier", None)
        if courier is None or locked.job.courier_id != courier.pk:
            raise DisputeNotFound()
        now = timezone.now()
        if locked.state != DisputeState.AWAITING_COURIER:
            raise DisputeStateError("The dispute is not waiting for your reply.")
        if locked.courier_reply_due_at is not None and now > locked.courier_reply_due_at:
            raise DisputeStateError("The time to reply has passed.")
        message = DisputeMessage.objects.create(
            dispute=locked, party=DisputeParty.COURIER, author=actor, text=statement
        )
        photos_store(
            dispute=locked, party=DisputeParty.COURIER, actor=actor, photos=photos, message=message
        )
        from_state = locked.state
        dispute_move(locked, DisputeState.UNDER_REVIEW)
        action_record(
            dispute=locked,
            actor=actor,
            kind=K.COURIER_REPLY,
            from_state=from_state,
            key=f"dispute:{locked.pk}:courier_reply:{message.pk}",
            party=DisputeParty.COURIER,
            note=statement,
        )
        dispute_notify(dispute=locked, event="dispute.courier_replied", actor=actor)
    return message


def dispute_reject(
    *, dispute: Dispute | Any, actor: User, reason: str, idempotency_key: str
) -> DisputeAction:
    """Reject the claim with a reason (support, finance). A chargeback follows Stripe's
    outcome instead and cannot be rejected here."""
    require(actor, perms.REJECT)
    _check_key(idempotency_key)
    reason = _check_text("reason", reason, required=True)
    with transaction.atomic():
        locked = dispute_lock(dispute)
        replay = action_replay(key=idempotency_key, dispute=locked, kind=K.REJECT)
        if replay is not None:
            return replay
        if not locked.is_open or locked.is_chargeback:
            raise DisputeStateError(f"A {locked.state} dispute cannot be rejected.")
        from_state = locked.state
        dispute_move(
            locked,
            DisputeState.REJECTED,
            resolution=DisputeResolution.REJECTED,
            resolved_at=timezone.now(),
        )
        action = action_record(
            dispute=locked,
            actor=actor,
            kind=K.REJECT,
            from_state=from_state,
            key=idempotency_key,
            party=DisputeParty.STAFF,
            note=reason,
        )
        dispute_notify(dispute=locked, event="dispute.rejected", actor=actor)
    return action


def dispute_request_info(
    *, dispute: Dispute | Any, actor: User, party: str, message: str, idempotency_key: str
) -> DisputeAction:
    """Ask the shop, the recipient or the courier for more (support, finance).

    Asking the courier gives them ``DISPUTE_COURIER_REPLY_HOURS`` again
    (``awaiting_courier``); asking the shop or recipient puts the dispute under review.
    A chargeback keeps its state (Stripe drives it).
    """
    require(actor, perms.REQUEST_INFO)
    _check_key(idempotency_key)
    message = _check_text("message", message, required=True)
    if party not in {DisputeParty.SHOP, DisputeParty.RECIPIENT, DisputeParty.COURIER}:
        raise DisputeInvalidInput(
            "party: shop, recipient or courier.", fields={"party": ["shop, recipient or courier."]}
        )
    with transaction.atomic():
        locked = dispute_lock(dispute)
        replay = action_replay(key=idempotency_key, dispute=locked, kind=K.REQUEST_INFO)
        if replay is not None:
            return replay
        if not locked.is_open:
            raise DisputeStateError(f"A {locked.state} dispute takes no more information.")
        if party == DisputeParty.COURIER and locked.job.courier_id is None:
            raise DisputeStateError("The job has no courier to ask.")
        DisputeMessage.objects.create(
            dispute=locked,
            party=DisputeParty.STAFF,
            author=actor,
            addressed_to=party,
            text=message,
        )
        from_state = locked.state
        if locked.is_chargeback:
            dispute_move(locked, locked.state)
        elif party == DisputeParty.COURIER:
            due = timezone.now() + timedelta(hours=settings.DISPUTE_COURIER_REPLY_HOURS)
            dispute_move(locked, DisputeState.AWAITING_COURIER, courier_reply_due_at=due)
        else:
            dispute_move(locked, DisputeState.UNDER_REVIEW)
        action = action_record(
            dispute=locked,
            actor=actor,
            kind=K.REQUEST_INFO,
            from_state=from_state,
            key=idempotency_key,
            party=party,
            note=message,
        )
        dispute_notify(dispute=locked, event="dispute.info_requested", actor=actor)
    return action
