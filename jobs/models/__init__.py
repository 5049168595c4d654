"""Jobs and everything around them: zones, quotes, events, offers, proof and webhooks.

``Job.status`` is changed only by ``jobs.lifecycle.job_transition``. The models live in
submodules by topic; import them from here.
"""

from jobs.models.jobs import (
    COURIER_ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    ActorRole,
    DeliveryOption,
    DispatchMode,
    Job,
    JobEvent,
    JobStatus,
    PricedTrip,
    Quote,
    ServiceZone,
    default_size_factors,
    default_vehicle_factors,
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
    "Job",
    "JobEvent",
    "JobPhoto",
    "JobStatus",
    "Offer",
    "OfferStatus",
    "PhotoKind",
    "PricedTrip",
    "ProofOfDelivery",
    "Quote",
    "ServiceZone",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookStatus",
    "default_size_factors",
    "default_vehicle_factors",
    "new_tracking_token",
]
