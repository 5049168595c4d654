"""Courier job endpoints: my jobs, each step from arrival at pickup to delivery or return.

Every step is ``POST /api/v1/courier/jobs/{id}/<step>/`` on the courier's own job (any other
job is 404, before the body is read) and may carry the courier's position
``{"lat", "lng"}``, stored on the step's JobEvent. ``pickup`` and ``deliver`` also accept
``multipart/form-data`` for images; there ``position`` is the same object as a JSON string.
"""

from jobs.api.courier.serializers import (
    CourierJobOutputSerializer,
    PositionField,
)
from jobs.api.courier.views import (
    CourierJobArriveDropoffApi,
    CourierJobArrivePickupApi,
    CourierJobDeliverApi,
    CourierJobDetailApi,
    CourierJobDropApi,
    CourierJobFailApi,
    CourierJobListApi,
    CourierJobPickupApi,
    CourierJobReturnedApi,
)

__all__ = [
    "CourierJobArriveDropoffApi",
    "CourierJobArrivePickupApi",
    "CourierJobDeliverApi",
    "CourierJobDetailApi",
    "CourierJobDropApi",
    "CourierJobFailApi",
    "CourierJobListApi",
    "CourierJobOutputSerializer",
    "CourierJobPickupApi",
    "CourierJobReturnedApi",
    "PositionField",
]
