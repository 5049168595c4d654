"""A dispute's own evidence: each party's messages and photos, and its audit trail."""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.db.models import Prefetch

from jobs.models import Job
from payments.disputes.evidence.job import JobEvidence, job_evidence
from payments.models import Dispute, DisputeAction, DisputeMessage, DisputeParty, DisputePhoto

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
