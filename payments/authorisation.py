"""Authorising a job's payment: before a posted job is saved, when a scheduled job is
released, and undoing an authorisation whose job never came to be.

Every call here is made outside a database transaction; each database write is its own
short transaction around the Stripe call.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.models import Job, JobStatus
from payments.errors import (
    PaymentAuthenticationRequired,
    PaymentConflict,
    PaymentDeclinedError,
    PaymentMethodRequired,
    PaymentUnavailable,
)
from payments.gateway import (
    AuthenticationRequired,
    GatewayError,
    GatewayUnavailable,
    IdempotencyMismatch,
    PaymentDeclined,
    get_gateway,
)
from payments.models import JobPayment, PaymentStatus, ShopBilling

logger = logging.getLogger(__name__)
P = PaymentStatus


def _authorise_key(job_pk: object) -> str:
    return f"job:{job_pk}:authorise"


def _defer_authorisation(job: Job) -> bool:
    """True for a job released to dispatch beyond the card-hold window."""
    if job.status != JobStatus.SCHEDULED or job.release_at is None:
        return False
    window = timedelta(hours=settings.PAYMENT_AUTH_WINDOW_HOURS)
    return job.release_at > timezone.now() + window


def job_authorise(*, job: Job) -> None:
    """The ``authorise`` job hook: hold total + tip on the shop's default card for the
    unsaved ``job`` (or, beyond the hold window, only check there is a card).

    Raises 402 ``payment_method_required`` / ``payment_declined`` /
    ``payment_authentication_required`` (nothing kept), 503 when Stripe did not answer
    (the sweeper cancels whatever Stripe may have done if the job never appears).
    """
    billing = ShopBilling.objects.filter(shop_id=job.shop_id).first()
    if billing is None or not billing.has_payment_method:
        raise PaymentMethodRequired()
    deferred = _defer_authorisation(job)
    payment, created = JobPayment.objects.get_or_create(
        job_id=job.pk,
        defaults={
            "shop_id": job.shop_id,
            "status": P.AWAITING_AUTHORISATION if deferred else P.AUTHORISING,
            "currency": job.currency,
            "amount_minor": job.total_minor + job.tip_minor,
            "customer_id": billing.customer_id,
            "payment_method_id": billing.payment_method_id,
        },
    )
    if not created:
        # A racing retry with the same Idempotency-Key: same job id, same authorisation.
        if payment.status in {P.AUTHORISED, P.AWAITING_AUTHORISATION}:
            return
        if payment.status != P.AUTHORISING:
            raise PaymentConflict("This Idempotency-Key's payment was cancelled; use a new key.")
    if deferred:
        return
    _authorise(payment, keep_on_refusal=False)


def job_release_authorise(*, job_pk: UUID) -> None:
    """The ``release`` job hook: authorise a job that was beyond the hold window when
    posted. A refusal raises (402 error), and jobs then cancels the job."""
    payment = JobPayment.objects.filter(job_id=job_pk).first()
    if payment is None or payment.status not in {P.AWAITING_AUTHORISATION, P.AUTHORISING}:
        return
    billing = ShopBilling.objects.filter(shop_id=payment.shop_id).first()
    if billing is None or not billing.has_payment_method:
        JobPayment.objects.filter(pk=payment.pk).update(
            status=P.DECLINED, updated_at=timezone.now()
        )
        raise PaymentMethodRequired()
    # Authorise with the card saved now: the shop may have changed it since posting.
    JobPayment.objects.filter(pk=payment.pk).update(
        status=P.AUTHORISING,
        customer_id=billing.customer_id,
        payment_method_id=billing.payment_method_id,
        updated_at=timezone.now(),
    )
    payment.refresh_from_db()
    _authorise(payment, keep_on_refusal=True)


def _authorise(payment: JobPayment, *, keep_on_refusal: bool) -> None:
    """Call Stripe for ``payment`` (status authorising) and record the answer.

    A refused authorisation of a job that does not exist yet leaves nothing behind (the
    row goes); one of a saved job is kept as ``declined`` for the record.
    """
    try:
        result = get_gateway().payment_intent_authorise(
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            customer_id=payment.customer_id,
            payment_method_id=payment.payment_method_id,
            transfer_group=f"job_{payment.job_id}",
            metadata={"job_id": str(payment.job_id), "shop_id": str(payment.shop_id)},
            idempotency_key=_authorise_key(payment.job_id),
        )
    except (PaymentDeclined, AuthenticationRequired) as refused:
        _refused(
            payment,
            keep=keep_on_refusal,
            decline_code=refused.decline_code or refused.stripe_code or refused.code,
        )
        if isinstance(refused, AuthenticationRequired):
            raise PaymentAuthenticationRequired() from refused
        raise PaymentDeclinedError() from refused
    except IdempotencyMismatch as mismatch:
        raise PaymentConflict() from mismatch
    except GatewayUnavailable as unavailable:
        raise PaymentUnavailable() from unavailable
    except GatewayError as error:
        _refused(payment, keep=keep_on_refusal, decline_code=error.code)
        raise PaymentDeclinedError(f"The payment was refused: {error}") from error
    if result.status != "requires_capture":
        _refused(payment, keep=keep_on_refusal, decline_code=result.status)
        if result.status == "requires_action":
            raise PaymentAuthenticationRequired()
        raise PaymentDeclinedError()
    JobPayment.objects.filter(pk=payment.pk, status=P.AUTHORISING).update(
        status=P.AUTHORISED,
        intent_id=result.id,
        charge_id=result.charge_id or "",
        authorised_minor=result.amount_capturable,
        capture_before=result.capture_before,
        updated_at=timezone.now(),
    )


def _refused(payment: JobPayment, *, keep: bool, decline_code: str) -> None:
    rows = JobPayment.objects.filter(pk=payment.pk)
    if keep:
        rows.update(status=P.DECLINED, decline_code=decline_code[:64], updated_at=timezone.now())
    else:
        rows.delete()


def job_authorisation_abandon(*, job_pk: UUID) -> None:
    """The ``abandon`` job hook: the post failed after authorising; cancel the hold."""
    payment = JobPayment.objects.filter(job_id=job_pk).first()
    if payment is not None and not Job.objects.filter(pk=job_pk).exists():
        orphan_cancel(payment)


def orphan_cancel(payment: JobPayment) -> None:
    """Cancel whatever Stripe holds for a payment whose job never appeared.

    An ``authorising`` row is a crash mid-call: the same authorise call with the same key
    tells us what Stripe did (or makes the same intent), and that intent is cancelled.
    """
    gateway = get_gateway()
    try:
        intent_id = payment.intent_id
        if payment.status == P.AUTHORISING:
            try:
                result = gateway.payment_intent_authorise(
                    amount_minor=payment.amount_minor,
                    currency=payment.currency,
                    customer_id=payment.customer_id,
                    payment_method_id=payment.payment_method_id,
                    transfer_group=f"job_{payment.job_id}",
                    metadata={"job_id": str(payment.job_id), "shop_id": str(payment.shop_id)},
                    idempotency_key=_authorise_key(payment.job_id),
                )
                intent_id = result.id if result.status == "requires_capture" else ""
            except (PaymentDeclined, AuthenticationRequired):
                intent_id = ""
        if intent_id:
            gateway.payment_intent_cancel(
                intent_id=intent_id, idempotency_key=f"job:{payment.job_id}:cancel"
            )
    except GatewayUnavailable:
        logger.warning("could not cancel orphaned authorisation for job %s yet", payment.job_id)
        return
    with transaction.atomic():
        JobPayment.objects.filter(pk=payment.pk).update(
            status=P.CANCELED, intent_id=intent_id, updated_at=timezone.now()
        )
