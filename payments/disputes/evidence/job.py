"""A disputed job's evidence: timeline, proof, the recipient's side and the courier's record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.gis.geos import Point
from django.db.models import Count, Q

from couriers.models import Courier
from jobs.models import (
    EventKind,
    Job,
    JobEvent,
    JobPhoto,
    JobRating,
    JobStatus,
    ProofOfDelivery,
    RecipientProblem,
)
from payments.disputes.evidence.money import Money, job_money
from payments.disputes.evidence.route import Route, job_route

# Events in which the recipient chose something on the tracking link.
RECIPIENT_CHOICE_KINDS = (
    EventKind.INSTRUCTIONS,
    EventKind.DELIVERY_OPTION,
    EventKind.RESCHEDULED,
    EventKind.RATED,
    EventKind.PROBLEM,
)


def _latlng(point: Point | None) -> dict[str, float] | None:
    return None if point is None else {"lat": point.y, "lng": point.x}


@dataclass(frozen=True)
class TimelineEntry:
    """One job event as staff read it: who, when, where, and what changed."""

    seq: int
    kind: str
    kind_label: str
    from_status: str
    to_status: str
    actor_role: str
    actor_username: str | None
    courier_id: int | None
    position: dict[str, float] | None
    reason: str
    data: dict[str, Any]
    created_at: datetime

    @property
    def who(self) -> str:
        return (
            f"{self.actor_role} {self.actor_username}" if self.actor_username else self.actor_role
        )


@dataclass(frozen=True)
class Proof:
    """What was shown at the door, with the job's PIN state and the photos on file."""

    delivery_option: str
    pin_required: bool
    pin_result: str  # verified | not_verified | locked | not_required
    pin_failed_attempts: int
    is_pin_locked: bool
    locker_id: str
    proof: ProofOfDelivery | None
    photos: list[JobPhoto]

    @property
    def delivery_photo(self) -> JobPhoto | None:
        return self._photo(self.proof.photo_id if self.proof else None)

    @property
    def signature(self) -> JobPhoto | None:
        return self._photo(self.proof.signature_id if self.proof else None)

    def _photo(self, pk: Any) -> JobPhoto | None:
        return next((photo for photo in self.photos if photo.pk == pk), None)


@dataclass(frozen=True)
class RecipientSide:
    """The recipient's current choices, the events in which they made them, and reports."""

    name: str
    delivery_option: str
    instructions: str
    locker_id: str
    alternate_address: str
    alternate_position: dict[str, float] | None
    alternate_note: str
    deliver_after: datetime | None
    deliver_before: datetime | None
    choices: list[TimelineEntry]
    problems: list[RecipientProblem]
    rating: JobRating | None


@dataclass(frozen=True)
class CourierRecord:
    """The courier's standing: jobs done, ratings, and disputes on their jobs."""

    courier: Courier
    jobs_total: int
    delivered: int
    returned: int
    rating: Any
    rating_count: int
    acceptance_rate: float
    disputes: int | None  # None until disputes are counted by the caller


@dataclass(frozen=True)
class JobEvidence:
    job: Job
    timeline: list[TimelineEntry]
    route: Route
    proof: Proof
    recipient: RecipientSide
    money: Money
    courier: CourierRecord | None


def job_evidence(*, job: Job) -> JobEvidence:
    """Everything staff need about ``job`` to decide a dispute (a fixed number of queries).

    Pass a job loaded with ``select_related("courier__user")`` to save one more query.
    """
    timeline = job_timeline(job=job)
    proof = job_proof_evidence(job=job)
    return JobEvidence(
        job=job,
        timeline=timeline,
        route=job_route(job=job, proof=proof.proof),
        proof=proof,
        recipient=job_recipient_side(job=job, timeline=timeline),
        money=job_money(job=job),
        courier=courier_record(courier=job.courier) if job.courier_id else None,
    )


def job_timeline(*, job: Job) -> list[TimelineEntry]:
    """The job's events in order (one query)."""
    events = JobEvent.objects.filter(job=job).select_related("actor").order_by("seq")
    return [
        TimelineEntry(
            seq=event.seq,
            kind=event.kind,
            kind_label=event.get_kind_display(),
            from_status=event.from_status,
            to_status=event.to_status,
            actor_role=event.actor_role,
            actor_username=event.actor.username if event.actor else None,
            courier_id=event.courier_id,
            position=_latlng(event.point),
            reason=event.reason,
            data=event.data,
            created_at=event.created_at,
        )
        for event in events
    ]


def job_proof_evidence(*, job: Job) -> Proof:
    """The proof of delivery and every photo of the job, without their bytes (two queries)."""
    proof = ProofOfDelivery.objects.filter(job=job).first()
    photos = list(JobPhoto.objects.filter(job=job).defer("data").order_by("created_at", "pk"))
    if not job.pin_required:
        pin_result = "not_required"
    elif proof is not None and proof.is_pin_verified:
        pin_result = "verified"
    elif job.is_pin_locked:
        pin_result = "locked"
    else:
        pin_result = "not_verified"
    return Proof(
        delivery_option=job.delivery_option,
        pin_required=job.pin_required,
        pin_result=pin_result,
        pin_failed_attempts=job.pin_failed_attempts,
        is_pin_locked=job.is_pin_locked,
        locker_id=job.locker_id,
        proof=proof,
        photos=photos,
    )


def job_recipient_side(*, job: Job, timeline: list[TimelineEntry]) -> RecipientSide:
    """What the recipient chose and reported (two queries; the choices come from the
    timeline already read)."""
    return RecipientSide(
        name=job.recipient_name,
        delivery_option=job.delivery_option,
        instructions=job.recipient_instructions,
        locker_id=job.locker_id,
        alternate_address=job.alternate_address,
        alternate_position=_latlng(job.alternate_point),
        alternate_note=job.alternate_note,
        deliver_after=job.deliver_after,
        deliver_before=job.deliver_before,
        choices=[entry for entry in timeline if entry.kind in RECIPIENT_CHOICE_KINDS],
        problems=list(RecipientProblem.objects.filter(job=job).order_by("created_at", "pk")),
        rating=JobRating.objects.filter(job=job).first(),
    )


def courier_record(*, courier: Courier, disputes: int | None = None) -> CourierRecord:
    """The courier's jobs by outcome and their rating (one query for the counts)."""
    counts = Job.objects.filter(courier_id=courier.pk).aggregate(
        total=Count("pk"),
        delivered=Count("pk", filter=Q(status=JobStatus.DELIVERED)),
        returned=Count("pk", filter=Q(status=JobStatus.RETURNED)),
    )
    return CourierRecord(
        courier=courier,
        jobs_total=counts["total"],
        delivered=counts["delivered"],
        returned=counts["returned"],
        rating=courier.rating,
        rating_count=courier.rating_count,
        acceptance_rate=courier.acceptance_rate,
        disputes=disputes,
    )
