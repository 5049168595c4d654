"""Money commands: written with the state change, executed by a task outside any transaction.

``command_enqueue`` runs inside the caller's transaction and queues the task on commit.
``command_run`` claims the row with a conditional update (one runner at a time), calls
Stripe with the row's idempotency key outside any transaction, and then in one
transaction records the result, posts the ledger entry and writes follow-up commands.
A retryable failure puts the row back with exponential backoff; a worker killed mid-call
leaves it ``running`` and ``commands_sweep`` hands it out again once it is stale. Because
the key is the same every time, Stripe moves the money once however often it is re-driven.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django_q.tasks import async_task

from jobs.models import Job
from payments.gateway import GatewayError, GatewayUnavailable, get_gateway
from payments.models import (
    CommandKind,
    CommandState,
    CourierPayoutAccount,
    JobPayment,
    MoneyCommand,
    Transfer,
)
from payments.sandbox import sandbox_command_check

logger = logging.getLogger(__name__)
BACKOFF_BASE_SECONDS = 5
BACKOFF_MAX_SECONDS = 3600


def command_enqueue(
    *,
    kind: CommandKind,
    idempotency_key: str,
    job_id: Any,
    amount_minor: int = 0,
    currency: str,
    params: dict[str, Any] | None = None,
    transfer: Transfer | None = None,
) -> MoneyCommand:
    """Write the command (once per key) in the caller's transaction; run it on commit."""
    command, created = MoneyCommand.objects.get_or_create(
        idempotency_key=idempotency_key,
        defaults={
            "kind": kind,
            "job_id": job_id,
            "transfer": transfer,
            "amount_minor": amount_minor,
            "currency": currency,
            "params": params or {},
            "next_attempt_at": timezone.now(),
        },
    )
    if created:
        command_queue_on_commit(command.pk)
    return command


def command_queue_on_commit(pk: int) -> None:
    transaction.on_commit(
        lambda: async_task("payments.tasks.money_command_task", pk, group="payments")
    )


def _backoff(attempts: int) -> timedelta:
    return timedelta(
        seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS)
    )


def command_run(*, pk: int) -> str | None:
    """Execute command ``pk`` if it is due and nobody else holds it; its new state, or None
    when it was not ours to run. Must be called outside a transaction."""
    now = timezone.now()
    claimed = MoneyCommand.objects.filter(
        pk=pk, state=CommandState.PENDING, next_attempt_at__lte=now
    ).update(state=CommandState.RUNNING, claimed_at=now, attempts=F("attempts") + 1, updated_at=now)
    if not claimed:
        return None
    command = MoneyCommand.objects.select_related("transfer").get(pk=pk)
    try:
        result = _execute(command)
    except GatewayUnavailable as error:
        return _retry_later(command, error)
    except GatewayError as error:
        return _fail(command, error)
    from payments.flows import command_apply  # flows write follow-up commands through us

    with transaction.atomic():
        command_apply(command=command, result=result)
        MoneyCommand.objects.filter(pk=pk).update(
            state=CommandState.SUCCEEDED,
            result=_as_json(result),
            last_error="",
            updated_at=timezone.now(),
        )
    return CommandState.SUCCEEDED


def _execute(command: MoneyCommand) -> Any:
    sandbox_command_check(
        is_sandbox=Job.objects.filter(pk=command.job_id, shop__is_sandbox=True).exists(),
        idempotency_key=command.idempotency_key,
    )
    gateway = get_gateway()
    key = command.idempotency_key
    if command.kind == CommandKind.CAPTURE:
        payment = JobPayment.objects.get(job_id=command.job_id)
        return gateway.payment_intent_capture(
            intent_id=payment.intent_id, amount_to_capture=command.amount_minor, idempotency_key=key
        )
    if command.kind == CommandKind.CANCEL_AUTHORISATION:
        intent_id = command.params.get("intent_id")
        if not intent_id:  # written before commands named their intent
            intent_id = JobPayment.objects.get(job_id=command.job_id).intent_id
        return gateway.payment_intent_cancel(intent_id=intent_id, idempotency_key=key)
    if command.kind == CommandKind.TRANSFER:
        transfer = command.transfer
        account = CourierPayoutAccount.objects.get(courier_id=transfer.courier_id)
        return gateway.transfer_create(
            amount_minor=transfer.amount_minor,
            currency=transfer.currency,
            destination=account.account_id,
            source_transaction=transfer.source_charge_id or None,
            transfer_group=f"job_{transfer.job_id}",
            metadata={
                "job_id": str(transfer.job_id),
                "transfer_id": str(transfer.pk),
                "courier_id": str(transfer.courier_id),
                "kind": transfer.kind,
            },
            idempotency_key=key,
        )
    if command.kind == CommandKind.REFUND:
        # The command's id comes back on the refund's later events (a refund that fails).
        return gateway.refund_create(
            payment_intent_id=command.params["intent_id"],
            amount_minor=command.amount_minor,
            metadata={
                "job_id": str(command.job_id),
                "dispute_id": str(command.params.get("dispute_id", "")),
                "money_command_id": str(command.pk),
            },
            idempotency_key=key,
        )
    if command.kind == CommandKind.TRANSFER_REVERSAL:
        return gateway.transfer_reversal_create(
            transfer_id=command.transfer.stripe_transfer_id,
            amount_minor=command.amount_minor,
            metadata={
                "job_id": str(command.job_id),
                "dispute_id": str(command.params.get("dispute_id", "")),
            },
            idempotency_key=key,
        )
    if command.kind == CommandKind.DISPUTE_EVIDENCE:
        # Uploads the proof images as Stripe files first, then submits the evidence.
        from payments.disputes.services.chargebacks import chargeback_evidence_send

        return chargeback_evidence_send(command=command, gateway=gateway)
    raise ValueError(f"unknown money command kind {command.kind!r}")


def _retry_later(command: MoneyCommand, error: Exception) -> str:
    if command.attempts >= settings.PAYMENT_COMMAND_MAX_ATTEMPTS:
        return _fail(command, error)
    MoneyCommand.objects.filter(pk=command.pk, state=CommandState.RUNNING).update(
        state=CommandState.PENDING,
        next_attempt_at=timezone.now() + _backoff(command.attempts),
        last_error=f"{type(error).__name__}: {error}"[:2000],
        updated_at=timezone.now(),
    )
    logger.warning("money command %s will be retried: %s", command.idempotency_key, error)
    return CommandState.PENDING


def _fail(command: MoneyCommand, error: Exception) -> str:
    from payments.flows import command_failed

    with transaction.atomic():
        MoneyCommand.objects.filter(pk=command.pk).update(
            state=CommandState.FAILED,
            last_error=f"{type(error).__name__}: {error}"[:2000],
            updated_at=timezone.now(),
        )
        command_failed(command=command, error=str(error))
    logger.error("money command %s failed: %s", command.idempotency_key, error)
    return CommandState.FAILED


def commands_sweep(*, now: Any = None) -> list[int]:
    """Give stale ``running`` rows (their worker died) back, and run every due command.
    Returns the ids queued."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.PAYMENT_COMMAND_STALE_SECONDS)
    MoneyCommand.objects.filter(state=CommandState.RUNNING, claimed_at__lt=stale).update(
        state=CommandState.PENDING, next_attempt_at=now, updated_at=now
    )
    due = list(
        MoneyCommand.objects.filter(state=CommandState.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:500]
    )
    for pk in due:
        async_task("payments.tasks.money_command_task", pk, group="payments")
    return due


def _as_json(result: Any) -> dict[str, Any]:
    data = dict(getattr(result, "__dict__", {}) or {})
    return {
        key: (value.isoformat() if hasattr(value, "isoformat") else value)
        for key, value in data.items()
        if not isinstance(value, tuple)  # nested results (a dispute's balance transactions)
    }
