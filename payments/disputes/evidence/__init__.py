"""Read-only selectors gathering the evidence about a disputed job for staff, in few queries.

``job_evidence`` collects, for one job: its event timeline (who, when, where), the
courier's route between pickup and delivery (breadcrumbs as a GeoJSON LineString with
the pickup, drop-off and delivery points), the proof of delivery, what the recipient
chose and reported, the payment with its ledger entries and Stripe ids, and the
courier's record. The number of queries does not grow with the number of events, pings,
photos or ledger lines. Nothing here writes.
"""

from payments.disputes.evidence.dispute import DisputeEvidence, PartyThread, dispute_evidence
from payments.disputes.evidence.job import (
    CourierRecord,
    JobEvidence,
    Proof,
    RecipientSide,
    TimelineEntry,
    courier_record,
    job_evidence,
    job_proof_evidence,
    job_recipient_side,
    job_timeline,
)
from payments.disputes.evidence.money import EntryView, Money, job_money
from payments.disputes.evidence.route import ROUTE_MAX_POINTS, Route, job_route, route_window

__all__ = [
    "ROUTE_MAX_POINTS",
    "CourierRecord",
    "DisputeEvidence",
    "EntryView",
    "JobEvidence",
    "Money",
    "PartyThread",
    "Proof",
    "RecipientSide",
    "Route",
    "TimelineEntry",
    "courier_record",
    "dispute_evidence",
    "job_evidence",
    "job_money",
    "job_proof_evidence",
    "job_recipient_side",
    "job_route",
    "job_timeline",
    "route_window",
]
