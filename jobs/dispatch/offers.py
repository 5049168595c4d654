"""Offer answers: accept (exactly once), decline, expire and withdraw.

Every change of an offer's status is a conditional ``UPDATE … WHERE status = 'pending'``,
so an offer is answered at most once whatever runs at the same time. Lock order, where
more than one row is locked: job, then offers, then courier. Nothing here waits on a
courier row while holding another courier row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import (
    BooleanField,
    Exists,
    F,
    FloatField,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Greatest, Least
from django.db.models.sql import UpdateQuery
from django.utils import timezone
from django_q.tasks import async_task

from couriers.models import Courier, CourierStatus
from jobs.dispatch.payloads import (
    WithdrawReason,
    offer_withdrawn_frame,
    send_to_couriers_on_commit,
)
from jobs.lifecycle import job_transition
from jobs.models import Job, JobStatus, Offer, OfferStatus
from marketplace.api.errors import ConflictError, NotFoundError
from marketplace.sqlcache import (
    SAMPLE_DATETIME,
    SAMPLE_INT,
    SAMPLE_OTHER_UUID,
    SAMPLE_UUID,
    CompiledQuery,
    CompiledStatement,
    RowReader,
)

logger = logging.getLogger(__name__)

DISPATCH_TASK = "jobs.dispatch.dispatch_job_task"
# Courier.acceptance_rate is an exponential moving average of answers: accept = 1,
# decline or no answer = 0. With 0.1 the last ~10 offers carry most of the weight.
ACCEPTANCE_EMA_WEIGHT = 0.1


class OfferNotFound(NotFoundError):
    default_message = "No such offer."


class OfferNoLongerAvailable(ConflictError):
    code = "offer_no_longer_available"
    default_message = "This offer is no longer available."


def acceptance_rate_after(answer: float) -> Greatest:
    """``acceptance_rate`` moved towards ``answer`` (1 accepted, 0 not), as an F() update."""
    rate = F("acceptance_rate") * (1 - ACCEPTANCE_EMA_WEIGHT) + ACCEPTANCE_EMA_WEIGHT * answer
    # Clamped: float rounding must never trip the 0..1 check constraint.
    return Greatest(
        Value(0.0), Least(Value(1.0), rate, output_field=FloatField()), output_field=FloatField()
    )


def queue_dispatch(job_pk: object) -> None:
    """Run a dispatch pass for the job once the current transaction commits."""
    pk = str(job_pk)
    transaction.on_commit(lambda: async_task(DISPATCH_TASK, pk, group="dispatch"))


# What an accept reads of its job and shop: what the move to assigned writes and sends (the
# event, the shop's frame and webhook, the tracking state) and the answer's job status.
# Anything else is loaded on first use, one query per field.
ACCEPT_JOB_FIELDS = (
    "status", "last_event_seq", "courier", "dispatch_round", "dispatch_attempt",
    "external_ref", "pickup_point", "dropoff_point", "shop__webhook_url", "shop__is_sandbox",
)  # fmt: skip

# The offer's job, locked (of=self: not the shop's row), with its shop; the offer is looked
# up in the same statement, so someone else's offer finds no job.
ACCEPT_JOB_LOCK = CompiledQuery(
    lambda offer_pk, courier_pk: (
        Job.objects.select_for_update(of=("self",))
        .select_related("shop")
        .only(*ACCEPT_JOB_FIELDS)
        .filter(
            pk=Subquery(
                Offer.objects.filter(pk=offer_pk, courier_id=courier_pk).values("job_id")[:1]
            )
        )
    ),
    offer_pk=SAMPLE_UUID,
    courier_pk=SAMPLE_INT,
)


def _courier_offers(offer_pk: UUID | str, courier: Courier) -> QuerySet[Offer]:
    return Offer.objects.filter(pk=offer_pk, courier=courier)


def _offer_job_pk(*, offer_pk: UUID | str, courier: Courier) -> UUID:
    job_pk = _courier_offers(offer_pk, courier).values_list("job_id", flat=True).first()
    if job_pk is None:  # unknown, or someone else's: the same answer either way
        raise OfferNotFound()
    return job_pk


def _redrive_if_overdue(*, offer_pk: UUID | str, job_pk: UUID, now: datetime) -> None:
    """An answer came after the deadline and the sweeper has not run yet: move on now."""
    if Offer.objects.filter(pk=offer_pk, status=OfferStatus.PENDING, expires_at__lte=now).exists():
        queue_dispatch(job_pk)


def offer_accept(*, offer_pk: UUID | str, courier: Courier) -> Offer:
    """Take the offered job: exactly one courier wins it, whatever races.

    One transaction: lock the job row; the job must still be pending; a conditional
    UPDATE moves this courier's offer pending → accepted only while it has not expired;
    another claims the courier available → busy (a courier holds one job, and one who went
    offline must come back online first); then ``job_transition`` assigns the job and the
    job's other pending offers are withdrawn (``offer_withdrawn`` frames on commit).
    The constraints offer_one_accepted_per_job and job_one_active_job_per_courier back
    this up. Raises ``OfferNotFound`` (404) for an unknown or someone else's offer and
    ``OfferNoLongerAvailable`` (409) when it expired, was answered, withdrawn or taken.
    """
    now = timezone.now()
    offer_pk = offer_pk if isinstance(offer_pk, UUID) else UUID(str(offer_pk))
    job_pk = None
    try:
        with transaction.atomic():
            job = ACCEPT_JOB_LOCK.first(offer_pk=offer_pk, courier_pk=courier.pk)
            if job is None:  # unknown, or someone else's: the same answer either way
                raise OfferNotFound()
            job_pk = job.pk
            if job.status != JobStatus.PENDING:
                raise OfferNoLongerAvailable("The job has been taken or is no longer offered.")
            offer = _offer_claim(offer_pk=offer_pk, courier=courier, job_pk=job_pk, now=now)
            if offer is None:
                raise OfferNoLongerAvailable("This offer expired or was already answered.")
            if not offer.courier_claimed:
                raise OfferNoLongerAvailable(
                    "You can accept an offer only while online and not on another job."
                )
            try:
                assigned, _ = job_transition(
                    job=job,
                    to=JobStatus.ASSIGNED,
                    actor=courier.user,
                    courier=courier,
                    is_locked=True,
                    courier_is_busy=True,  # the claim above made them busy
                )
            except IntegrityError as exc:  # an active job the status did not show
                raise OfferNoLongerAvailable("You already hold an active job.") from exc
            _announce_withdrawn(
                [
                    (pk, job_pk, courier_pk)
                    for pk, courier_pk in zip(
                        offer.withdrawn_ids, offer.withdrawn_couriers, strict=True
                    )
                ],
                reason=WithdrawReason.TAKEN,
            )
    except OfferNoLongerAvailable:
        if job_pk is not None:
            _redrive_if_overdue(offer_pk=offer_pk, job_pk=job_pk, now=now)
        raise
    offer.job = assigned
    return offer


def _offer_claim_sql(
    *, alias: str, offer_pk: UUID, courier_pk: int, job_pk: UUID, now: datetime
) -> tuple[str, list[Any]]:
    """The accept's claim statement, compiled once per process (``OFFER_CLAIM``)."""
    table = Offer._meta.db_table
    claimed = RawSQL("EXISTS (SELECT 1 FROM claimed)", (), output_field=BooleanField())
    busy = Courier.objects.filter(claimed, pk=courier_pk, status=CourierStatus.AVAILABLE)
    busy_update = busy.query.chain(UpdateQuery)
    busy_update.add_update_values(
        {"status": CourierStatus.BUSY, "acceptance_rate": acceptance_rate_after(1.0)}
    )
    busy_sql, busy_params = busy_update.get_compiler(alias).as_sql()
    sql = (
        f"WITH claimed AS (UPDATE {table} SET status = %s, responded_at = %s "
        "WHERE id = %s AND courier_id = %s AND status = %s AND expires_at > %s RETURNING *), "
        f"courier_busy AS ({busy_sql} RETURNING 1), "
        f"others AS (UPDATE {table} SET status = %s WHERE job_id = %s AND id <> %s "
        "AND status = %s AND EXISTS (SELECT 1 FROM claimed) RETURNING id, courier_id) "
        f"SELECT {_OFFER_ROW.columns('claimed')}, "
        "EXISTS (SELECT 1 FROM courier_busy) AS courier_claimed, "
        "ARRAY(SELECT id FROM others ORDER BY id) AS withdrawn_ids, "
        "ARRAY(SELECT courier_id FROM others ORDER BY id) AS withdrawn_couriers FROM claimed"
    )
    params = [
        OfferStatus.ACCEPTED.value,
        now,
        offer_pk,
        courier_pk,
        OfferStatus.PENDING.value,
        now,
        *busy_params,
        OfferStatus.WITHDRAWN.value,
        job_pk,
        offer_pk,
        OfferStatus.PENDING.value,
    ]
    return sql, params


_OFFER_ROW = RowReader(Offer)
OFFER_CLAIM = CompiledStatement(
    _offer_claim_sql,
    offer_pk=SAMPLE_UUID,
    courier_pk=SAMPLE_INT,
    job_pk=SAMPLE_OTHER_UUID,
    now=SAMPLE_DATETIME,
)


def _offer_claim(*, offer_pk: UUID, courier: Courier, job_pk: UUID, now: datetime) -> Offer | None:
    """The accept's three writes in one statement; the claimed offer, or None.

    Moves the courier's offer pending → accepted while it has not expired (``UPDATE …
    RETURNING``, so no read after) and, only if that matched, claims the courier
    available → busy (``offer.courier_claimed``) and withdraws the job's other pending
    offers (``offer.withdrawn_ids`` / ``withdrawn_couriers``, in id order). Called with the
    job row locked; when the courier is not free the caller raises and all three roll back.
    An answer racing the withdrawal waits on its offer's row and then finds it withdrawn.
    """
    connection = transaction.get_connection()
    sql, params = OFFER_CLAIM.sql_with_params(
        alias=connection.alias, offer_pk=offer_pk, courier_pk=courier.pk, job_pk=job_pk, now=now
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    offer = _OFFER_ROW.build(row, alias=connection.alias)
    offer.courier_claimed, offer.withdrawn_ids, offer.withdrawn_couriers = row[-3:]
    return offer


def offer_decline(*, offer_pk: UUID | str, courier: Courier, reason: str = "") -> Offer:
    """Say no to an offer; dispatch moves on at once (next candidate or next round).

    A conditional UPDATE pending → declined, only before the deadline and while the job is
    still pending; then the job's dispatch pass is queued on commit (it waits while other
    offers of a broadcast are still open). Raises ``OfferNotFound`` (404) or
    ``OfferNoLongerAvailable`` (409) like ``offer_accept``.
    """
    job_pk = _offer_job_pk(offer_pk=offer_pk, courier=courier)
    now = timezone.now()
    with transaction.atomic():
        # The job's status is checked in an EXISTS, not a join: Django turns an UPDATE with
        # a join into "WHERE id IN (subquery)", and PostgreSQL's re-check after waiting on
        # a concurrent accept's row lock would then not see the offer's new status.
        job_is_pending = Exists(Job.objects.filter(pk=OuterRef("job_id"), status=JobStatus.PENDING))
        declined = Offer.objects.filter(
            job_is_pending,
            pk=offer_pk,
            courier=courier,
            status=OfferStatus.PENDING,
            expires_at__gt=now,
        ).update(status=OfferStatus.DECLINED, responded_at=now, decline_reason=reason)
        if declined:
            Courier.objects.filter(pk=courier.pk).update(acceptance_rate=acceptance_rate_after(0.0))
            queue_dispatch(job_pk)
    if not declined:
        _redrive_if_overdue(offer_pk=offer_pk, job_pk=job_pk, now=now)
        raise OfferNoLongerAvailable("This offer expired, was already answered or was withdrawn.")
    return Offer.objects.select_related("job").get(pk=offer_pk)


def _close(offers: QuerySet[Offer], *, to: OfferStatus) -> list[tuple[UUID, UUID, int]]:
    """Move the pending ones among ``offers`` to ``to``; return (offer, job, courier) ids.

    The rows are locked in id order first, so an answer racing this one waits and then
    finds the offer no longer pending.
    """
    rows = list(
        offers.filter(status=OfferStatus.PENDING)
        .select_for_update()
        .order_by("pk")
        .values_list("pk", "job_id", "courier_id")
    )
    if rows:
        Offer.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(status=to)
    return rows


def offers_withdraw(offers: QuerySet[Offer], *, reason: str) -> list[UUID]:
    """Withdraw the pending ones among ``offers`` and tell their couriers on commit.

    Call with the offers' job rows locked. Returns the withdrawn offers' ids.
    """
    rows = _close(offers, to=OfferStatus.WITHDRAWN)
    _announce_withdrawn(rows, reason=reason)
    return [pk for pk, _, _ in rows]


def _announce_withdrawn(rows: Iterable[tuple[UUID, UUID, int]], *, reason: str) -> None:
    """Tell each courier of the withdrawn (offer, job, courier) rows, on commit."""
    send_to_couriers_on_commit(
        (courier_pk, offer_withdrawn_frame(offer_pk=offer_pk, job_pk=job_pk, reason=reason))
        for offer_pk, job_pk, courier_pk in rows
    )


def offers_expire(offers: QuerySet[Offer], *, now: datetime) -> list[UUID]:
    """Expire the pending ones among ``offers`` whose deadline has passed.

    Each counts as "not accepted" in its courier's acceptance rate, and the courier is
    told (``offer_withdrawn``, reason ``expired``). Call with the job rows locked.
    """
    rows = _close(offers.filter(expires_at__lte=now), to=OfferStatus.EXPIRED)
    if rows:
        courier_pks = sorted({courier_pk for _, _, courier_pk in rows})
        Courier.objects.filter(pk__in=courier_pks).update(
            acceptance_rate=acceptance_rate_after(0.0)
        )
    send_to_couriers_on_commit(
        (
            courier_pk,
            offer_withdrawn_frame(offer_pk=offer_pk, job_pk=job_pk, reason=WithdrawReason.EXPIRED),
        )
        for offer_pk, job_pk, courier_pk in rows
    )
    return [pk for pk, _, _ in rows]


def offers_withdraw_for_courier(*, courier: Courier) -> list[UUID]:
    """Withdraw a courier's pending offers (they went offline) and move those jobs on.

    For the availability service to call when a courier goes offline; without it their
    offers simply expire, and an accept from an offline courier is refused anyway.
    """
    withdrawn: list[UUID] = []
    job_pks = set(
        Offer.objects.filter(courier=courier, status=OfferStatus.PENDING).values_list(
            "job_id", flat=True
        )
    )
    for job_pk in sorted(job_pks):
        with transaction.atomic():
            Job.objects.select_for_update(of=("self",)).filter(pk=job_pk).first()
            pks = offers_withdraw(
                Offer.objects.filter(job_id=job_pk, courier=courier),
                reason=WithdrawReason.COURIER_UNAVAILABLE,
            )
            if pks:
                queue_dispatch(job_pk)
            withdrawn.extend(pks)
    return withdrawn


def offers_withdraw_for_offline_couriers(courier_pks: Sequence[int]) -> None:
    """Subscriber of ``couriers.hooks``: couriers went offline, so their offers go."""
    for courier in Courier.objects.filter(pk__in=courier_pks).order_by("pk"):
        offers_withdraw_for_courier(courier=courier)
