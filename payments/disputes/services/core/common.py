"""What every dispute service shares: the permission check, locks, replays, audit rows, checks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction

from jobs.models import Job
from jobs.photos import ProofImage
from marketplace.models import User
from payments.disputes import permissions as perms
from payments.disputes.services.errors import (
    DisputeInvalidInput,
    DisputeNotFound,
    DisputePermissionDenied,
    DisputeStateError,
    IdempotencyKeyReused,
)
from payments.models import (
    Dispute,
    DisputeAction,
    DisputeActionKind,
    DisputePhoto,
)

MAX_TEXT = 5000


K = DisputeActionKind


def require(actor: User | None, action: str) -> None:
    """Raise ``DisputePermissionDenied`` unless ``actor`` may take ``action``."""
    if action not in perms.dispute_permissions(actor):
        raise DisputePermissionDenied()


def dispute_lock(dispute: Dispute | Any) -> Dispute:
    """The dispute's row and its job's, locked for the rest of the transaction (the job
    first, as ``job_transition`` does; then the dispute, the payment, the transfers)."""
    pk = dispute.pk if isinstance(dispute, Dispute) else dispute
    job_id = Dispute.objects.filter(pk=pk).values_list("job_id", flat=True).first()
    if job_id is None:
        raise DisputeNotFound()
    job = Job.objects.select_for_update().get(pk=job_id)
    locked = Dispute.objects.select_for_update().get(pk=pk)
    locked.job = job
    return locked


def action_replay(*, key: str, dispute: Dispute, kind: str) -> DisputeAction | None:
    """The action already recorded under ``key`` (the same request again), or None."""
    existing = DisputeAction.objects.filter(idempotency_key=key).first()
    if existing is None:
        return None
    if existing.dispute_id != dispute.pk or existing.kind != kind:
        raise IdempotencyKeyReused(fields={"idempotency_key": ["Used for another action."]})
    return existing


def action_record(
    *,
    dispute: Dispute,
    actor: User | None,
    kind: str,
    from_state: str,
    key: str,
    **fields: Any,
) -> DisputeAction:
    """Write the audit row (in a savepoint, so a lost race on a unique key surfaces as a
    state error instead of breaking the caller's transaction)."""
    try:
        with transaction.atomic():
            return DisputeAction.objects.create(
                dispute=dispute,
                actor=actor,
                kind=kind,
                from_state=from_state,
                to_state=dispute.state,
                currency=dispute.currency,
                idempotency_key=key,
                **fields,
            )
    except IntegrityError as error:
        if DisputeAction.objects.filter(idempotency_key=key).exists():
            raise IdempotencyKeyReused() from error
        raise DisputeStateError(f"This dispute already has a {kind} action.") from error


def dispute_move(dispute: Dispute, to: str, **fields: Any) -> None:
    """Set the state (and other fields) of a locked dispute and save just those."""
    dispute.state = to
    for name, value in fields.items():
        setattr(dispute, name, value)
    dispute.save(update_fields=["state", "updated_at", *fields])


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key.strip() or len(key) > 255:
        raise DisputeInvalidInput(
            "idempotency_key: give a non-empty key of at most 255 characters.",
            fields={"idempotency_key": ["A non-empty key of at most 255 characters."]},
        )


def _check_text(name: str, text: Any, *, required: bool) -> str:
    if not isinstance(text, str) or len(text) > MAX_TEXT or (required and not text.strip()):
        message = f"Text of at most {MAX_TEXT} characters" + (", not blank." if required else ".")
        raise DisputeInvalidInput(f"{name}: {message}", fields={name: [message]})
    return text


def _check_amount(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 2**62:
        raise DisputeInvalidInput(
            f"{name}: a whole number of minor units, 0 or more.",
            fields={name: ["A whole number of minor units, 0 or more."]},
        )
    return value


def _check_positive_amount(name: str, value: Any) -> int:
    amount = _check_amount(name, value)
    if amount <= 0:
        raise DisputeInvalidInput(f"{name}: more than 0.", fields={name: ["More than 0."]})
    return amount


def photos_store(
    *, dispute: Dispute, party: str, actor: User | None, photos: Iterable[ProofImage], message=None
) -> list[DisputePhoto]:
    return [
        DisputePhoto.objects.create(
            dispute=dispute,
            message=message,
            party=party,
            content_type=image.content_type,
            data=image.data,
            size_bytes=image.size_bytes,
            sha256=image.sha256,
            uploaded_by=actor,
        )
        for image in photos
    ]
