"""Chargebacks: a card holder's dispute at Stripe, mirrored as a ``stripe`` dispute on the job.

``chargeback_sync`` is what the ``charge.dispute.*`` webhooks call: it reads the dispute
back from Stripe (so events may arrive in any order, any number of times), opens our
dispute once (``stripe_dispute_id`` is unique), freezes the courier's earnings for the
job that are not transferred yet, posts each of the dispute's balance transactions once,
and when Stripe closed the dispute records won or lost and lets the frozen earnings go.
``dispute_submit_evidence`` (finance) sends the proof of delivery, the tracking timeline
and the service date to Stripe through the money outbox; the command
(``chargeback_evidence_send``) first uploads the delivery photo and the signature as Stripe
files, once each, and names them in the evidence's file fields.

Ledger (debit +, credit -), one entry per Stripe balance transaction of the dispute
(key ``chargeback:<txn id>``), so the disputed amount and Stripe's dispute fee are booked
exactly as Stripe moved them:
  funds withdrawn D + fee   chargebacks +(D + fee) · stripe_clearing -(D + fee)
  funds reinstated (won) R  stripe_clearing +R · chargebacks -R
"""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.models import Job, JobEvent, JobPhoto, ProofOfDelivery
from marketplace.models import User
from payments.disputes import permissions as perms
from payments.disputes.events import dispute_notify
from payments.disputes.selectors import job_charges
from payments.disputes.services.core import (
    _check_key,
    action_record,
    action_replay,
    dispute_lock,
    dispute_move,
    require,
)
from payments.disputes.services.errors import DisputeStateError
from payments.gateway import DisputeResult, GatewayError, PaymentGateway, get_gateway
from payments.ledger import Line, ledger_post
from payments.models import (
    CommandKind,
    Dispute,
    DisputeAction,
    DisputeActionKind,
    DisputeOpener,
    DisputeReason,
    DisputeResolution,
    DisputeState,
    EntryKind,
    JobPayment,
    MoneyCommand,
    Tip,
    Transfer,
    TransferState,
)
from payments.outbox import command_enqueue

logger = logging.getLogger(__name__)
K = DisputeActionKind
# Stripe's reasons, in our words; the rest are "other" (the Stripe reason is kept).
STRIPE_REASONS = {
    "product_not_received": DisputeReason.NEVER_DELIVERED,
    "product_unacceptable": DisputeReason.DAMAGED,
    "duplicate": DisputeReason.OVERCHARGED,
    "credit_not_processed": DisputeReason.OVERCHARGED,
    "subscription_canceled": DisputeReason.OVERCHARGED,
}
# Stripe statuses in which evidence may still be submitted.
NEEDS_RESPONSE = frozenset({"needs_response", "warning_needs_response"})
CLOSED = frozenset({"won", "lost", "warning_closed", "prevented"})
# What Stripe takes as a dispute evidence file (its file upload guide: PDF, JPEG or PNG, at
# most 5 MB); a WebP proof photo is described in the text evidence only.
EVIDENCE_FILE_TYPES = {"image/jpeg": "jpg", "image/png": "png"}
EVIDENCE_FILE_MAX_BYTES = 5 * 1024 * 1024


def _job_for_charge(charge_id: str) -> Job | None:
    payment = JobPayment.objects.filter(charge_id=charge_id).first()
    if payment is not None:
        return Job.objects.filter(pk=payment.job_id).first()
    tip = Tip.objects.filter(charge_id=charge_id).first()
    return Job.objects.filter(pk=tip.job_id).first() if tip is not None else None


def chargeback_sync(*, stripe_dispute_id: str) -> Dispute | None:
    """Bring our chargeback in line with Stripe's dispute (see the module docstring).
    None when the disputed charge is not one of ours."""
    result = get_gateway().dispute_retrieve(dispute_id=stripe_dispute_id)
    job = _job_for_charge(result.charge_id)
    if job is None:
        logger.warning("dispute %s is on charge %s, not ours", result.id, result.charge_id)
        return None
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        dispute = _chargeback_ensure(job=job, result=result)
        locked = dispute_lock(dispute)
        for txn in result.balance_transactions:
            ledger_post(
                idempotency_key=f"chargeback:{txn.id}",
                kind=EntryKind.CHARGEBACK,
                lines=[
                    Line("chargebacks", -txn.net, txn.currency),
                    Line("stripe_clearing", txn.net, txn.currency),
                ],
                job_id=job.pk,
                reference=txn.id,
                description=f"{txn.type} for dispute {result.id}",
            )
        if result.status in CLOSED and locked.stripe_outcome == "":
            _chargeback_close(locked, result)
        elif locked.stripe_status != result.status:
            dispute_move(locked, locked.state, stripe_status=result.status)
    return locked


def _chargeback_ensure(*, job: Job, result: DisputeResult) -> Dispute:
    existing = Dispute.objects.filter(stripe_dispute_id=result.id).first()
    if existing is not None:
        return existing
    charges = job_charges(job=job)
    fee = min(result.amount, charges.fee_minor)
    tip = min(result.amount - fee, charges.tip_minor)
    try:
        with transaction.atomic():
            dispute = Dispute.objects.create(
                job=job,
                opener=DisputeOpener.STRIPE,
                reason=STRIPE_REASONS.get(result.reason, DisputeReason.OTHER),
                description=f"Chargeback: {result.reason}",
                state=DisputeState.OPEN,
                claim_value_minor=result.amount - fee - tip,
                claim_fee_minor=fee,
                claim_tip_minor=tip,
                currency=result.currency,
                stripe_dispute_id=result.id,
                stripe_reason=result.reason,
                stripe_status=result.status,
                stripe_amount_minor=result.amount,
                evidence_due_by=result.evidence_due_by,
                review_due_at=result.evidence_due_by,
            )
    except IntegrityError:
        return Dispute.objects.get(stripe_dispute_id=result.id)
    frozen = Transfer.objects.filter(job_id=job.pk, state=TransferState.HELD).update(
        is_frozen=True, updated_at=timezone.now()
    )
    action_record(
        dispute=dispute,
        actor=None,
        kind=K.OPEN,
        from_state=DisputeState.OPEN,
        key=f"dispute:{dispute.pk}:open",
        party="stripe",
        amount_minor=result.amount,
        note=f"Stripe dispute {result.id} ({result.reason}); {frozen} held transfer(s) frozen.",
    )
    dispute_notify(dispute=dispute, event="dispute.opened")
    return dispute


def _chargeback_close(dispute: Dispute, result: DisputeResult) -> None:
    from payments.flows import transfers_unfreeze

    won = result.status in {"won", "warning_closed", "prevented"}
    from_state = dispute.state
    dispute_move(
        dispute,
        DisputeState.RESOLVED,
        stripe_status=result.status,
        stripe_outcome="won" if won else "lost",
        resolution=DisputeResolution.CHARGEBACK_WON if won else DisputeResolution.CHARGEBACK_LOST,
        resolved_at=dispute.resolved_at or timezone.now(),
    )
    action_record(
        dispute=dispute,
        actor=None,
        kind=K.CHARGEBACK_CLOSED,
        from_state=from_state,
        key=f"dispute:{dispute.pk}:chargeback_closed",
        party="stripe",
        amount_minor=result.amount,
        note=f"Stripe: {result.status}",
    )
    if not Dispute.objects.filter(
        job_id=dispute.job_id, opener=DisputeOpener.STRIPE, stripe_outcome=""
    ).exclude(pk=dispute.pk):
        transfers_unfreeze(job_id=dispute.job_id)
    dispute_notify(dispute=dispute, event=f"dispute.chargeback_{'won' if won else 'lost'}")


def chargeback_evidence(*, job: Job) -> dict[str, str]:
    """What we tell the card holder's bank: the service date, the delivery address, the
    proof of delivery and the tracking timeline (Stripe's text evidence fields)."""
    proof = ProofOfDelivery.objects.filter(job=job).first()
    events = JobEvent.objects.filter(job=job).order_by("seq")
    timeline = "; ".join(
        f"{event.created_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC {event.to_status}"
        for event in events
        if event.kind == "status"
    )
    proof_lines = []
    if proof is not None:
        if proof.is_pin_verified:
            proof_lines.append("recipient's PIN verified")
        if proof.photo_id:
            proof_lines.append("delivery photo taken")
        if proof.signature_id:
            proof_lines.append("signature collected")
        if proof.recipient_name:
            proof_lines.append(f"received by {proof.recipient_name}")
        if proof.distance_to_dropoff_m is not None:
            proof_lines.append(f"{proof.distance_to_dropoff_m} m from the dropoff")
    served = job.delivered_at or job.ended_at or job.created_at
    evidence = {
        "service_date": f"{served.astimezone(UTC):%Y-%m-%d}",
        "shipping_date": f"{(job.picked_up_at or served).astimezone(UTC):%Y-%m-%d}",
        "shipping_address": job.dropoff_address,
        "product_description": (
            f"Courier delivery from {job.pickup_address} to {job.dropoff_address}"
            + (f": {job.package_description}" if job.package_description else "")
        ),
        "uncategorized_text": (
            f"Proof of delivery: {', '.join(proof_lines) or 'none recorded'}. "
            f"Tracking timeline: {timeline or 'none'}."
        )[:20000],
    }
    if job.recipient_name:
        evidence["customer_name"] = job.recipient_name
    return evidence


def chargeback_evidence_files(*, job: Job) -> tuple[list[dict[str, str]], list[str]]:
    """The proof images that go to Stripe as files: the delivery photo as the shipping
    documentation, the signature as an uncategorised file. (files, notes on images left out)."""
    proof = ProofOfDelivery.objects.filter(job=job).first()
    if proof is None:
        return [], []
    wanted = [
        ("shipping_documentation", "delivery-photo", proof.photo_id),
        ("uncategorized_file", "signature", proof.signature_id),
    ]
    photos = JobPhoto.objects.filter(pk__in=[pk for _, _, pk in wanted if pk]).only(
        "pk", "content_type", "size_bytes"
    )
    by_pk = {photo.pk: photo for photo in photos}
    files, left_out = [], []
    for field, name, pk in wanted:
        photo = by_pk.get(pk)
        if photo is None:
            continue
        extension = EVIDENCE_FILE_TYPES.get(photo.content_type)
        if extension is None:
            left_out.append(f"{name} not sent: Stripe takes no {photo.content_type} files")
        elif photo.size_bytes > EVIDENCE_FILE_MAX_BYTES:
            left_out.append(f"{name} not sent: {photo.size_bytes} bytes is over Stripe's 5 MB")
        else:
            files.append(
                {
                    "field": field,
                    "photo_id": str(photo.pk),
                    "filename": f"{name}-{job.pk}.{extension}",
                }
            )
    return files, left_out


def chargeback_evidence_send(*, command: MoneyCommand, gateway: PaymentGateway) -> DisputeResult:
    """Run a chargeback's evidence command (the outbox calls it, outside any transaction):
    upload each proof image as a Stripe file, then send the evidence with the files' ids in
    their fields and submit it.

    An upload runs under its own key (the command's key and the field), and its file id is
    kept in the command's ``uploaded_files`` as soon as Stripe answers, so a retried command
    never uploads an image twice. A file Stripe refuses is left out (kept in
    ``refused_files``) rather than holding back the rest of the evidence."""
    params = command.params
    evidence = dict(params["evidence"])
    uploaded: dict[str, str] = dict(params.get("uploaded_files") or {})
    refused: dict[str, str] = dict(params.get("refused_files") or {})
    for item in params.get("files") or []:
        field = item["field"]
        if field not in uploaded and field not in refused:
            photo = JobPhoto.objects.filter(pk=item["photo_id"]).only("data").first()
            if photo is None:
                continue
            try:
                result = gateway.file_upload(
                    purpose="dispute_evidence",
                    filename=item["filename"],
                    content=bytes(photo.data),
                    idempotency_key=f"{command.idempotency_key}:file:{field}",
                )
            except GatewayError as error:
                refused[field] = error.message[:500]
                logger.warning("evidence file %s refused by Stripe: %s", field, error)
            else:
                uploaded[field] = result.id
            params = {**params, "uploaded_files": uploaded, "refused_files": refused}
            MoneyCommand.objects.filter(pk=command.pk).update(
                params=params, updated_at=timezone.now()
            )
            command.params = params
        if field in uploaded:
            evidence[field] = uploaded[field]
    return gateway.dispute_submit_evidence(
        dispute_id=params["stripe_dispute_id"],
        evidence=evidence,
        metadata={"job_id": str(command.job_id), "dispute_id": params["dispute_id"]},
        idempotency_key=command.idempotency_key,
    )


def dispute_submit_evidence(
    *, dispute: Dispute | Any, actor: User, idempotency_key: str
) -> DisputeAction:
    """Send the job's evidence to Stripe and submit it (finance), once per chargeback,
    while Stripe still waits for a response: the text, and the proof images as files
    (``chargeback_evidence_send`` runs the command). The dispute goes under review."""
    require(actor, perms.SUBMIT_EVIDENCE)
    _check_key(idempotency_key)
    with transaction.atomic():
        locked = dispute_lock(dispute)
        replay = action_replay(key=idempotency_key, dispute=locked, kind=K.SUBMIT_EVIDENCE)
        if replay is not None:
            return replay
        if not locked.is_chargeback:
            raise DisputeStateError("Evidence goes to Stripe only for a chargeback.")
        if not locked.is_open or locked.stripe_status not in NEEDS_RESPONSE:
            raise DisputeStateError(
                f"Stripe no longer takes evidence for this dispute ({locked.stripe_status})."
            )
        if locked.evidence_due_by is not None and timezone.now() > locked.evidence_due_by:
            raise DisputeStateError("The evidence deadline has passed.")
        if locked.actions.filter(kind=K.SUBMIT_EVIDENCE).exists():
            raise DisputeStateError("Evidence was already submitted.")
        files, left_out = chargeback_evidence_files(job=locked.job)
        command = command_enqueue(
            kind=CommandKind.DISPUTE_EVIDENCE,
            idempotency_key=f"dispute:{locked.pk}:evidence",
            job_id=locked.job_id,
            currency=locked.currency,
            params={
                "stripe_dispute_id": locked.stripe_dispute_id,
                "dispute_id": str(locked.pk),
                "evidence": chargeback_evidence(job=locked.job),
                "files": files,
            },
        )
        from_state = locked.state
        dispute_move(locked, DisputeState.UNDER_REVIEW)
        action = action_record(
            dispute=locked,
            actor=actor,
            kind=K.SUBMIT_EVIDENCE,
            from_state=from_state,
            key=idempotency_key,
            party="stripe",
            note="; ".join(
                [f"{k}: {v}" for k, v in command.params["evidence"].items()]
                + [f"{f['field']}: file {f['filename']}" for f in command.params.get("files", [])]
                + left_out
            )[:5000],
            money_command=command,
        )
        dispute_notify(dispute=locked, event="dispute.evidence_submitted", actor=actor)
    return action


def evidence_recorded(*, dispute_id: Any, result: DisputeResult) -> None:
    """The evidence command succeeded: keep Stripe's new status (called by the outbox)."""
    Dispute.objects.filter(pk=dispute_id).update(
        stripe_status=result.status, updated_at=timezone.now()
    )
