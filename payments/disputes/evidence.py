"""Read-only selectors gathering the evidence about a disputed job for staff, in few queries.

``job_evidence`` collects, for one job: its event timeline (who, when, where), the
courier's route between pickup and delivery (breadcrumbs as a GeoJSON LineString with
the pickup, drop-off and delivery points), the proof of delivery, what the recipient
chose and reported, the payment with its ledger entries and Stripe ids, and the
courier's record. The number of queries does not grow with the number of events, pings,
photos or ledger lines. Nothing here writes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.contrib.gis.geos import Point
from django.db.models import Count, Prefetch, Q
from django.utils import timezone

from couriers.models import Courier, LocationPing
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
from payments.models import (
    Dispute,
    DisputeAction,
    DisputeMessage,
    DisputeParty,
    DisputePhoto,
    JobPayment,
    JournalEntry,
    JournalLine,
    MoneyCommand,
    Tip,
    Transfer,
)

# A long trip at one fix a second is a few thousand points; past this many the line is
# thinned evenly (first and last kept) so the page stays light. The count stays exact.
ROUTE_MAX_POINTS = 2000

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
class Route:
    """The courier's breadcrumbs from pickup to delivery, and the trip's points.

    ``geojson`` is a FeatureCollection ([lng, lat], WGS 84): a ``breadcrumbs`` LineString
    (when there are two or more fixes) and one Point per ``pickup``, ``dropoff``,
    ``alternate_dropoff`` (the recipient's new place, if any) and ``delivery`` (where the
    courier marked it delivered, if it was).
    """

    started_at: datetime | None
    ended_at: datetime | None
    ping_count: int
    flagged_count: int
    geojson: dict[str, Any]

    @property
    def line(self) -> list[list[float]]:
        for feature in self.geojson["features"]:
            if feature["properties"]["kind"] == "breadcrumbs":
                return feature["geometry"]["coordinates"]
        return []


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
class EntryView:
    """A journal entry with its lines; ``total_minor`` per currency is zero when it balances."""

    entry: JournalEntry
    lines: list[JournalLine]
    totals: dict[str, int]

    @property
    def is_balanced(self) -> bool:
        return all(total == 0 for total in self.totals.values())


@dataclass(frozen=True)
class Money:
    """The job's payment, tip, transfers, money commands and ledger entries."""

    payment: JobPayment | None
    tip: Tip | None
    transfers: list[Transfer]
    commands: list[MoneyCommand]
    entries: list[EntryView]
    stripe_ids: list[tuple[str, str]] = field(default_factory=list)

    @property
    def is_balanced(self) -> bool:
        return all(view.is_balanced for view in self.entries)


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


def route_window(job: Job) -> tuple[datetime | None, datetime | None]:
    """From pickup (or assignment, when it never got that far) to delivery or the job's end."""
    start = job.picked_up_at or job.assigned_at
    if start is None:
        return None, None
    end = job.delivered_at or job.ended_at
    return start, end or timezone.now()


def _thin(coordinates: list[list[float]], limit: int) -> list[list[float]]:
    if len(coordinates) <= limit:
        return coordinates
    step = (len(coordinates) - 1) / (limit - 1)
    return [coordinates[round(index * step)] for index in range(limit)]


def _point_feature(kind: str, point: Point, **properties: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [point.x, point.y]},
        "properties": {"kind": kind, **properties},
    }


def job_route(*, job: Job, proof: ProofOfDelivery | None) -> Route:
    """The courier's breadcrumbs between pickup and delivery (one query; none without a
    courier), ordered by when the device took each fix."""
    start, end = route_window(job)
    rows: list[tuple[Point, datetime, str]] = []
    if job.courier_id is not None and start is not None:
        rows = list(
            LocationPing.objects.filter(
                courier_id=job.courier_id, recorded_at__gte=start, recorded_at__lte=end
            )
            .order_by("recorded_at", "pk")
            .values_list("point", "recorded_at", "flag")
        )
    features: list[dict[str, Any]] = []
    coordinates = [[point.x, point.y] for point, _, _ in rows]
    if len(coordinates) >= 2:
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "LineString",
                    "coordinates": _thin(coordinates, ROUTE_MAX_POINTS),
                },
                "properties": {
                    "kind": "breadcrumbs",
                    "count": len(coordinates),
                    "from": rows[0][1].isoformat(),
                    "to": rows[-1][1].isoformat(),
                },
            }
        )
    features.append(_point_feature("pickup", job.pickup_point, address=job.pickup_address))
    features.append(_point_feature("dropoff", job.dropoff_point, address=job.dropoff_address))
    if job.alternate_point is not None:
        features.append(
            _point_feature("alternate_dropoff", job.alternate_point, address=job.alternate_address)
        )
    if proof is not None and proof.point is not None:
        features.append(
            _point_feature("delivery", proof.point, distance_m=proof.distance_to_dropoff_m)
        )
    return Route(
        started_at=start,
        ended_at=end,
        ping_count=len(rows),
        flagged_count=sum(1 for _, _, flag in rows if flag),
        geojson={"type": "FeatureCollection", "features": features},
    )


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


def job_money(*, job: Job) -> Money:
    """The job's payment, tip, transfers, money commands and journal entries with their
    lines and accounts (six queries), and every Stripe object id among them."""
    payment = JobPayment.objects.filter(job_id=job.pk).first()
    tip = Tip.objects.filter(job_id=job.pk).first()
    transfers = list(Transfer.objects.filter(job_id=job.pk).order_by("created_at", "pk"))
    commands = list(MoneyCommand.objects.filter(job_id=job.pk).order_by("created_at", "pk"))
    entries = list(
        JournalEntry.objects.filter(job_id=job.pk)
        .order_by("created_at", "pk")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=JournalLine.objects.select_related("account").order_by("pk"),
            )
        )
    )
    views = []
    for entry in entries:
        lines = list(entry.lines.all())
        totals: dict[str, int] = defaultdict(int)
        for line in lines:
            totals[line.currency] += line.amount_minor
        views.append(EntryView(entry=entry, lines=lines, totals=dict(totals)))
    return Money(
        payment=payment,
        tip=tip,
        transfers=transfers,
        commands=commands,
        entries=views,
        stripe_ids=_stripe_ids(payment, tip, transfers, entries),
    )


def _stripe_ids(
    payment: JobPayment | None,
    tip: Tip | None,
    transfers: list[Transfer],
    entries: list[JournalEntry],
) -> list[tuple[str, str]]:
    """(what, id) for every Stripe object behind the job's money, each id once, in order."""
    found: list[tuple[str, str]] = []
    if payment is not None:
        found += [
            ("customer", payment.customer_id),
            ("payment method", payment.payment_method_id),
            ("payment intent", payment.intent_id),
            ("charge", payment.charge_id),
        ]
    if tip is not None:
        found += [("tip payment intent", tip.intent_id), ("tip charge", tip.charge_id)]
    found += [
        (f"transfer ({transfer.kind})", transfer.stripe_transfer_id) for transfer in transfers
    ]
    found += [(f"ledger {entry.kind}", entry.reference) for entry in entries]
    seen: set[str] = set()
    unique = []
    for what, stripe_id in found:
        if stripe_id and stripe_id not in seen:
            seen.add(stripe_id)
            unique.append((what, stripe_id))
    return unique


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


# --- The dispute around the job -----------------------------------------------------------

PARTY_ORDER = ("shop", "recipient", "courier", "staff", "stripe")


@dataclass(frozen=True)
class PartyThread:
    """What one party said and showed in the dispute (the opener's description first)."""

    party: str
    label: str
    is_opener: bool
    opening: str
    messages: list[DisputeMessage]
    photos: list[DisputePhoto]  # sent with the opening, not with a message


@dataclass(frozen=True)
class DisputeEvidence:
    dispute: Dispute
    job: JobEvidence
    parties: list[PartyThread]
    actions: list[DisputeAction]


def dispute_evidence(*, dispute: Dispute) -> DisputeEvidence:
    """The job's evidence plus each party's messages and photos (without their bytes), the
    dispute's audit trail, and the courier's dispute count (a fixed number of queries)."""
    job = Job.objects.select_related("shop", "zone", "courier__user").get(pk=dispute.job_id)
    evidence = job_evidence(job=job)
    if evidence.courier is not None:
        disputes = Dispute.objects.filter(job__courier_id=job.courier_id).count()
        evidence = replace(evidence, courier=replace(evidence.courier, disputes=disputes))
    photos = DisputePhoto.objects.defer("data").order_by("created_at", "pk")
    messages = list(
        DisputeMessage.objects.filter(dispute=dispute)
        .select_related("author")
        .prefetch_related(Prefetch("photos", queryset=photos))
        .order_by("created_at", "pk")
    )
    loose = list(photos.filter(dispute=dispute, message__isnull=True))
    labels = dict(DisputeParty.choices)
    parties = []
    for party in PARTY_ORDER:
        is_opener = party == dispute.opener
        said = [message for message in messages if message.party == party]
        shown = [photo for photo in loose if photo.party == party]
        if is_opener or said or shown:
            parties.append(
                PartyThread(
                    party=party,
                    label=labels[party],
                    is_opener=is_opener,
                    opening=dispute.description if is_opener else "",
                    messages=said,
                    photos=shown,
                )
            )
    actions = list(
        DisputeAction.objects.filter(dispute=dispute)
        .select_related("actor", "journal_entry", "money_command")
        .order_by("created_at", "pk")
    )
    return DisputeEvidence(dispute=dispute, job=evidence, parties=parties, actions=actions)
