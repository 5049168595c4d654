"""Dispatch: offering pending jobs to couriers, their answers, expiry and the sweeper.

Task paths: ``jobs.dispatch.dispatch_job_task`` (queued by ``job_transition`` whenever a
job becomes pending) and ``jobs.dispatch.offers_sweep_task`` (every minute).
"""

from jobs.dispatch.offers import (
    OfferNoLongerAvailable,
    OfferNotFound,
    offer_accept,
    offer_decline,
    offers_expire,
    offers_withdraw,
    offers_withdraw_for_courier,
)
from jobs.dispatch.payloads import WithdrawReason, offer_data, offer_frame, offer_withdrawn_frame
from jobs.dispatch.rounds import DispatchResult, Outcome, dispatch_job, dispatch_mode_for
from jobs.dispatch.selectors import offers_pending_for_courier
from jobs.dispatch.tasks import dispatch_job_task, offers_sweep, offers_sweep_task

__all__ = [
    "DispatchResult",
    "OfferNoLongerAvailable",
    "OfferNotFound",
    "Outcome",
    "WithdrawReason",
    "dispatch_job",
    "dispatch_job_task",
    "dispatch_mode_for",
    "offer_accept",
    "offer_data",
    "offer_decline",
    "offer_frame",
    "offer_withdrawn_frame",
    "offers_expire",
    "offers_pending_for_courier",
    "offers_sweep",
    "offers_sweep_task",
    "offers_withdraw",
    "offers_withdraw_for_courier",
]
