"""The shop's side of jobs: views in ``views``, response shapes in ``outputs``."""

from jobs.api.shop.views import (
    JobCancelApi,
    JobCreateInputSerializer,
    JobDetailApi,
    JobEventsApi,
    JobListCreateApi,
    JobRepostApi,
    QuoteCreateApi,
)

__all__ = [
    "JobCancelApi",
    "JobCreateInputSerializer",
    "JobDetailApi",
    "JobEventsApi",
    "JobListCreateApi",
    "JobRepostApi",
    "QuoteCreateApi",
]
