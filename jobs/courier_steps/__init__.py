"""The courier's side of a job: each step, proof of delivery, dropping a job, PIN lockout.

Every status change goes through ``jobs.lifecycle.job_transition``; the services here lock
the job row first (``SELECT ... FOR UPDATE``) so the checks they make before it still hold.
``base`` holds the shared table and errors, ``steps`` and ``delivery`` the writes,
``selectors`` the reads.
"""

from jobs.courier_steps.base import (
    STEP_FROM,
    FailureNoteRequired,
    FailureReason,
    GeofenceReasonRequired,
    JobNotFound,
    PinLocked,
    PinNotLocked,
    ProofRequired,
    WrongLocker,
    WrongPin,
    delivery_target,
    job_next_steps,
    proof_requirements,
)
from jobs.courier_steps.delivery import job_deliver, job_pin_unlock
from jobs.courier_steps.selectors import (
    courier_active_job_pk,
    courier_job_get,
    courier_jobs_list,
    job_get_for_viewer,
    job_photo_get,
    job_photos_list,
    job_proof_get,
)
from jobs.courier_steps.steps import (
    job_arrive_dropoff,
    job_arrive_pickup,
    job_complete_return,
    job_drop,
    job_fail,
    job_pick_up,
)

__all__ = [
    "STEP_FROM",
    "FailureNoteRequired",
    "FailureReason",
    "GeofenceReasonRequired",
    "JobNotFound",
    "PinLocked",
    "PinNotLocked",
    "ProofRequired",
    "WrongLocker",
    "WrongPin",
    "courier_active_job_pk",
    "courier_job_get",
    "courier_jobs_list",
    "delivery_target",
    "job_arrive_dropoff",
    "job_arrive_pickup",
    "job_complete_return",
    "job_deliver",
    "job_drop",
    "job_fail",
    "job_get_for_viewer",
    "job_next_steps",
    "job_photo_get",
    "job_photos_list",
    "job_pick_up",
    "job_pin_unlock",
    "job_proof_get",
    "proof_requirements",
]
