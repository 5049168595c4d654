"""Reads over disputes: what a job charged per part, what was refunded, who sees which dispute."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import BigIntegerField, Case, F, QuerySet, Sum, When

from jobs.models import Job, JobStatus
from marketplace.models import User
from payments.models import (
    Dispute,
    DisputeAction,
    DisputeActionKind,
    DisputeOpener,
    JobPayment,
    PaymentStatus,
    Tip,
    TipStatus,
)
from payments.models.disputes import REFUND_KINDS


@dataclass(frozen=True)
class Parts:
    """An amount split into parcel value, delivery fee and tip (minor units)."""

    value_minor: int = 0
    fee_minor: int = 0
    tip_minor: int = 0

    @property
    def total_minor(self) -> int:
        return self.value_minor + self.fee_minor + self.tip_minor

    def as_dict(self) -> dict[str, int]:
        return {
            "value_minor": self.value_minor,
            "fee_minor": self.fee_minor,
            "tip_minor": self.tip_minor,
        }


@dataclass(frozen=True)
class Charges:
    """What a job charged the shop: the job's own charge (fee and the tip given when
    posting) and the separate tip charge (a tip given after delivery)."""

    job_charge_minor: int
    job_tip_minor: int  # the part of the job's charge that is tip
    tip_charge_minor: int
    currency: str

    @property
    def fee_minor(self) -> int:
        return self.job_charge_minor - self.job_tip_minor

    @property
    def tip_minor(self) -> int:
        return self.job_tip_minor + self.tip_charge_minor


def job_charges(*, job: Job) -> Charges:
    """What was captured for ``job``; before capture, what its outcome will capture."""
    payment = JobPayment.objects.filter(job_id=job.pk).first()
    tip = Tip.objects.filter(job_id=job.pk, status=TipStatus.SUCCEEDED).first()
    tip_charge = tip.amount_minor if tip else 0
    included_tip = job.tip_minor if job.status == JobStatus.DELIVERED else 0
    if payment is not None and payment.status == PaymentStatus.CAPTURED:
        charge = payment.captured_minor
        included_tip = min(included_tip, charge)
    elif job.status == JobStatus.CANCELLED:
        charge = job.cancellation_fee_charged_minor
    elif job.status in {JobStatus.RETURNED, JobStatus.FAILED, JobStatus.RETURNING}:
        from payments.flows import percent_of

        charge = percent_of(job.total_minor, job.zone.return_fee_percent)
    else:
        charge = job.total_minor + job.tip_minor
        included_tip = job.tip_minor
    return Charges(
        job_charge_minor=charge,
        job_tip_minor=included_tip,
        tip_charge_minor=tip_charge,
        currency=job.currency,
    )


def claim_limits(*, job: Job) -> Parts:
    """The most a claim may ask for per part: the declared parcel value, the fee and the tip
    charged."""
    charges = job_charges(job=job)
    return Parts(
        value_minor=job.package_value_minor,
        fee_minor=charges.fee_minor,
        tip_minor=charges.tip_minor,
    )


def _refund_parts(actions: QuerySet[DisputeAction]) -> Parts:
    """Refunds decided (queued or done) less the parts Stripe refused (``refund_failed``)."""
    signed = {
        part: Sum(
            Case(
                When(kind=DisputeActionKind.REFUND_FAILED, then=-F(f"refund_{part}_minor")),
                default=F(f"refund_{part}_minor"),
                output_field=BigIntegerField(),
            )
        )
        for part in ("value", "fee", "tip")
    }
    totals = actions.filter(kind__in=(*REFUND_KINDS, DisputeActionKind.REFUND_FAILED)).aggregate(
        **signed
    )
    return Parts(
        value_minor=int(totals["value"] or 0),
        fee_minor=int(totals["fee"] or 0),
        tip_minor=int(totals["tip"] or 0),
    )


def job_refunded_parts(*, job_id: Any) -> Parts:
    """Refunds already decided on the job's disputes, per part (queued or done, not
    refused by Stripe)."""
    return _refund_parts(DisputeAction.objects.filter(dispute__job_id=job_id))


def dispute_refunded_parts(*, dispute: Dispute) -> Parts:
    return _refund_parts(dispute.actions.all())


def refund_attempts(*, dispute: Dispute) -> tuple[int, bool]:
    """The dispute's latest refund attempt (0 before any) and whether it still stands
    (Stripe did not refuse it)."""
    rows = list(
        dispute.actions.filter(kind__in=(*REFUND_KINDS, DisputeActionKind.REFUND_FAILED))
        .values_list("attempt", "kind")
        .order_by()
    )
    latest = max((attempt for attempt, _ in rows), default=0)
    refused = {attempt for attempt, kind in rows if kind == DisputeActionKind.REFUND_FAILED}
    return latest, latest > 0 and latest not in refused


def refused_refund_command_ids(*, job_id: Any) -> set[int]:
    """The job's refund commands whose refund Stripe refused (each has a ``refund_failed``)."""
    return set(
        DisputeAction.objects.filter(
            dispute__job_id=job_id,
            kind=DisputeActionKind.REFUND_FAILED,
            money_command__isnull=False,
        ).values_list("money_command_id", flat=True)
    )


def disputes_for_shop(*, user: User) -> QuerySet[Dispute]:
    """The disputes a shop's user sees: every dispute on the shop's jobs except a courier's
    own contest of a claw-back."""
    if user.shop_id is None:
        return Dispute.objects.none()
    return (
        Dispute.objects.filter(job__shop_id=user.shop_id)
        .exclude(opener=DisputeOpener.COURIER)
        .order_by("-created_at", "pk")
    )


def disputes_for_courier(*, user: User) -> QuerySet[Dispute]:
    """The disputes about jobs the courier carried."""
    courier = getattr(user, "courier", None)
    if courier is None:
        return Dispute.objects.none()
    return Dispute.objects.filter(job__courier_id=courier.pk).order_by("-created_at", "pk")


def job_has_open_chargeback(*, job_id: Any) -> bool:
    """True while a chargeback on the job's charges has no outcome from Stripe yet."""
    return Dispute.objects.filter(
        job_id=job_id, opener=DisputeOpener.STRIPE, stripe_outcome=""
    ).exists()
