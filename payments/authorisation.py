"""Authorising a job's payment: before a posted job is saved, when a job goes (back) to
dispatch, and undoing an authorisation whose job never came to be.

Every call here is made outside a database transaction; each database write is its own
short transaction around the Stripe call.

One owner per Stripe key: whoever moves the payment row into the state that calls for a
request (a conditional ``UPDATE … WHERE status = …``) is the only one that sends it, and a
retry of that request repeats exactly its parameters (they are the row's). So two paths
(a post's compensating cancel and the sweeper, two release runs) never send one key with
different parameters, and the loser of a claim leaves the row to the winner.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.db import connection
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery
from django.utils import timezone

from jobs.models import Job, JobStatus
from marketplace.models import Shop
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
from payments.sandbox import sandbox_money_check

logger = logging.getLogger(__name__)
P = PaymentStatus
# The states a post's job may be saved with: held, or (scheduled beyond the window) to be held.
SAVABLE = frozenset({P.AUTHORISED, P.AWAITING_AUTHORISATION})
# Set on a draft job by the ``authorise`` hook once it has a payment row.
HAS_PAYMENT_ROW = "_payments_has_row"
# A saved job's payment with no hold, to be authorised before the job goes to dispatch: never
# held yet (or released), or refused last time (a new round, so a new key, each time).
TO_AUTHORISE = frozenset({P.AWAITING_AUTHORISATION, P.DECLINED})


def authorise_key(job_pk: object, authorisation_round: int = 0) -> str:
    """Stripe's key for the job's authorisation in this round (each round a new hold)."""
    suffix = f":{authorisation_round}" if authorisation_round else ""
    return f"job:{job_pk}:authorise{suffix}"


def cancel_key(job_pk: object, authorisation_round: int = 0) -> str:
    """Stripe's (and the money command's) key for cancelling the hold of this round."""
    suffix = f":{authorisation_round}" if authorisation_round else ""
    return f"job:{job_pk}:cancel{suffix}"


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
    (the sweeper cancels whatever Stripe may have done if the job never appears), or when
    the sweeper took the hold over meanwhile (the job must not be saved then). A sandbox
    shop's job with a live Stripe key: 409 ``sandbox_live_key``.
    """
    sandbox_money_check(is_sandbox=job.shop.is_sandbox)
    billing = ShopBilling.objects.filter(shop_id=job.shop_id).first()
    if billing is None or not billing.has_payment_method:
        raise PaymentMethodRequired()
    # From here on the job has a payment row: the ``created`` hook must touch it.
    setattr(job, HAS_PAYMENT_ROW, True)
    deferred = _defer_authorisation(job)
    payment = JobPayment(
        job_id=job.pk,
        shop_id=job.shop_id,
        status=P.AWAITING_AUTHORISATION if deferred else P.AUTHORISING,
        currency=job.currency,
        amount_minor=job.total_minor + job.tip_minor,
        customer_id=billing.customer_id,
        payment_method_id=billing.payment_method_id,
    )
    if not _insert_unless_there(payment):
        payment = JobPayment.objects.get(job_id=job.pk)
        # A racing retry with the same Idempotency-Key: same job id, same authorisation.
        if payment.status in SAVABLE:
            return
        if payment.status != P.AUTHORISING:
            raise PaymentConflict("This Idempotency-Key's payment was cancelled; use a new key.")
    if deferred:
        return
    _authorise(payment, keep_on_refusal=False)


def _insert_unless_there(payment: JobPayment) -> bool:
    """Insert the row unless one for its job exists (a racing retry's); True if inserted.

    One ``INSERT … ON CONFLICT DO NOTHING RETURNING``, where ``get_or_create`` sends a
    read, then the insert in a transaction of its own."""
    query = InsertQuery(JobPayment, on_conflict=OnConflict.IGNORE)
    query.insert_values(JobPayment._meta.concrete_fields, [payment])
    [(sql, params)] = query.get_compiler(using=connection.alias).as_sql()
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING job_id", params)
        return cursor.fetchone() is not None


def job_payment_attach(*, job: Job) -> None:
    """The ``created`` job hook, inside the transaction that inserts a posted job.

    Touches the job's payment row (the row lock and ``updated_at`` tell the sweeper the
    job is being saved) and refuses the save (503) when the hold is no longer there to
    attach: the sweeper claimed it for cancelling while the post was slow. A job the
    ``authorise`` hook never saw has no payment row: nothing to touch, no statement.
    """
    if not getattr(job, HAS_PAYMENT_ROW, False):
        return
    table = JobPayment._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET updated_at = %s WHERE job_id = %s RETURNING status",
            [timezone.now(), job.pk],
        )
        row = cursor.fetchone()
    if row is not None and row[0] not in SAVABLE:
        raise PaymentUnavailable("The card hold was released while the job was being saved.")


def job_release_authorise(*, job_pk: UUID) -> None:
    """The ``release`` job hook: hold the card for a job about to go (back) to dispatch
    without one (scheduled beyond the hold window, or a hold released since: see
    ``payments.sweeper``). A refusal raises (402); Stripe not answering raises 503.

    The move awaiting → authorising (with the card saved now) is a conditional update:
    one caller wins it and sends the request; a row already authorising (an earlier
    answer was lost) is sent again exactly as it was, with the card it was first sent with.
    """
    payment = JobPayment.objects.filter(job_id=job_pk).first()
    if payment is None or payment.status not in TO_AUTHORISE | {P.AUTHORISING}:
        return
    sandbox_money_check(
        is_sandbox=Shop.objects.filter(pk=payment.shop_id, is_sandbox=True).exists()
    )
    if payment.status in TO_AUTHORISE:
        billing = ShopBilling.objects.filter(shop_id=payment.shop_id).first()
        if billing is None or not billing.has_payment_method:
            raise PaymentMethodRequired()
        # Authorise with the card saved now: the shop may have changed it since posting.
        JobPayment.objects.filter(pk=payment.pk, status=payment.status).update(
            status=P.AUTHORISING,
            customer_id=billing.customer_id,
            payment_method_id=billing.payment_method_id,
            decline_code="",
            updated_at=timezone.now(),
        )
        payment.refresh_from_db()
        if payment.status != P.AUTHORISING:
            if payment.status == P.AUTHORISED:
                return  # a concurrent release won and is done
            raise PaymentUnavailable("Another request is authorising this job; try again.")
    _authorise(payment, keep_on_refusal=True)


def _authorise(payment: JobPayment, *, keep_on_refusal: bool) -> None:
    """Call Stripe for ``payment`` (status authorising) and record the answer.

    A refused authorisation of a job that does not exist yet leaves nothing behind (the
    row goes); one of a saved job is kept as ``declined`` (the code in ``decline_code``)
    with a new round, so a later try with another card is a new request under a new key.
    """
    try:
        result = get_gateway().payment_intent_authorise(
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            customer_id=payment.customer_id,
            payment_method_id=payment.payment_method_id,
            transfer_group=f"job_{payment.job_id}",
            metadata={"job_id": str(payment.job_id), "shop_id": str(payment.shop_id)},
            idempotency_key=authorise_key(payment.job_id, payment.authorisation_round),
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
    recorded = JobPayment.objects.filter(pk=payment.pk, status=P.AUTHORISING).update(
        status=P.AUTHORISED,
        intent_id=result.id,
        charge_id=result.charge_id or "",
        authorised_minor=result.amount_capturable,
        capture_before=result.capture_before,
        updated_at=timezone.now(),
    )
    if (
        not recorded
        and not JobPayment.objects.filter(
            pk=payment.pk, status=P.AUTHORISED, intent_id=result.id
        ).exists()
    ):
        # Not a racing retry that recorded the same answer first: the sweeper took the row
        # over while Stripe answered (it cancels this intent).
        raise PaymentUnavailable("The authorisation was given up meanwhile; try again.")


def _refused(payment: JobPayment, *, keep: bool, decline_code: str) -> None:
    rows = JobPayment.objects.filter(pk=payment.pk, status=P.AUTHORISING)
    if keep:
        rows.update(
            status=P.DECLINED,
            authorisation_round=payment.authorisation_round + 1,
            decline_code=decline_code[:64],
            updated_at=timezone.now(),
        )
    else:
        rows.delete()


def job_authorisation_abandon(*, job_pk: UUID) -> bool:
    """The ``abandon`` job hook: the post failed after authorising; cancel the hold.

    Only if this call claims the row (True): the sweeper may own it already, or a racing
    retry with the same Idempotency-Key may be saving the job."""
    payment = JobPayment.objects.filter(
        job_id=job_pk, status__in=[P.AUTHORISING, P.AUTHORISED]
    ).first()
    claimed = orphan_claim(payment) if payment is not None else None
    if claimed is None:
        return False
    orphan_cancel(claimed)
    return True


def orphan_claim(payment: JobPayment) -> JobPayment | None:
    """Claim ``payment`` (as read) for cancelling, its job never having been saved; the
    claimed row, or None when it is not ours.

    One conditional ``UPDATE … RETURNING``: the row must still have the status and
    ``updated_at`` it was read with, and its job must not exist. A post saving its job
    touches the row in the job's own transaction (``job_payment_attach``), so a claim
    racing that save waits for it and then finds ``updated_at`` changed, and a save racing
    a claim finds the row ``cancelling`` and is refused: exactly one of them wins.
    """
    payments, jobs = JobPayment._meta.db_table, Job._meta.db_table
    claimed = JobPayment.objects.raw(
        f"UPDATE {payments} AS p SET status = %s, updated_at = %s "
        "WHERE p.job_id = %s AND p.status = %s AND p.updated_at = %s "
        f"AND NOT EXISTS (SELECT 1 FROM {jobs} j WHERE j.id = p.job_id) RETURNING p.*",
        [P.CANCELLING, timezone.now(), payment.job_id, payment.status, payment.updated_at],
    )
    return next(iter(claimed), None)


def orphan_cancel(payment: JobPayment) -> None:
    """Cancel whatever Stripe holds for a claimed payment (status cancelling) whose job
    never appeared.

    Without an intent id the authorise call was cut off: the same call with the same key
    and the row's parameters tells us what Stripe did (or makes the same intent), and that
    intent is cancelled. When Stripe does not answer the row stays cancelling and the
    sweeper claims it again later.
    """
    gateway = get_gateway()
    intent_id = payment.intent_id
    try:
        if not intent_id:
            try:
                result = gateway.payment_intent_authorise(
                    amount_minor=payment.amount_minor,
                    currency=payment.currency,
                    customer_id=payment.customer_id,
                    payment_method_id=payment.payment_method_id,
                    transfer_group=f"job_{payment.job_id}",
                    metadata={"job_id": str(payment.job_id), "shop_id": str(payment.shop_id)},
                    idempotency_key=authorise_key(payment.job_id, payment.authorisation_round),
                )
                intent_id = result.id if result.status == "requires_capture" else ""
            except (PaymentDeclined, AuthenticationRequired):
                intent_id = ""
        if intent_id:
            gateway.payment_intent_cancel(
                intent_id=intent_id,
                idempotency_key=cancel_key(payment.job_id, payment.authorisation_round),
            )
    except GatewayUnavailable:
        logger.warning("could not cancel orphaned authorisation for job %s yet", payment.job_id)
        return
    JobPayment.objects.filter(pk=payment.pk, status=P.CANCELLING).update(
        status=P.CANCELED, intent_id=intent_id, updated_at=timezone.now()
    )
