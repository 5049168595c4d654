"""Jobs and everything around them: zones, quotes, events, offers, proof, tracking, webhooks.

``Job.status`` is changed only by ``jobs.lifecycle.job_transition``. The models live in
submodules by topic; import them from here.
"""

from jobs.models.jobs import (
    COURIER_ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    ActorRole,
    DeliveryOption,
    DispatchMode,
    EventKind,
    Job,
    JobEvent,
    JobStatus,
    PricedTrip,
    Quote,
    ServiceZone,
    default_size_factors,
    default_vehicle_factors,
    new_tracking_salt,
    new_tracking_token,
)
from jobs.models.offers import (
    Offer,
    OfferStatus,
)
from jobs.models.proof import (
    JobPhoto,
    PhotoKind,
    ProofOfDelivery,
)
from jobs.models.tracking import (
    JobRating,
    ProblemReason,
    RecipientProblem,
)
from jobs.models.webhooks import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookStatus,
)

__all__ = [
    "COURIER_ACTIVE_STATUSES",
    "TERMINAL_STATUSES",
    "ActorRole",
    "DeliveryOption",
    "DispatchMode",
    "EventKind",
    "Job",
    "JobEvent",
    "JobPhoto",
    "JobRating",
    "JobStatus",
    "Offer",
    "OfferStatus",
    "PhotoKind",
    "PricedTrip",
    "ProblemReason",
    "ProofOfDelivery",
    "Quote",
    "RecipientProblem",
    "ServiceZone",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookStatus",
    "default_size_factors",
    "default_vehicle_factors",
    "new_tracking_salt",
    "new_tracking_token",
]
