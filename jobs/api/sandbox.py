"""The sandbox API: a sandbox shop moves one of its jobs one step with the robo courier."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.api.shop.outputs import JobSecretsOutputSerializer
from jobs.sandbox.services import sandbox_advance
from marketplace.api.permissions import IsShop
from marketplace.api.schema import error_responses


class SandboxJobAdvanceApi(APIView):
    """Move a sandbox job one step with the built-in robo courier: from pending it is
    assigned, then at_pickup, picked_up, at_dropoff, delivered (or, with
    ``test_specifications.robo_courier.fail_at``, failed and returning, then returned).
    Every event, webhook, socket frame and payment step fires as for a real courier."""

    permission_classes = [IsShop]

    @extend_schema(
        request=None,
        responses={
            200: JobSecretsOutputSerializer,
            **error_responses(
                {
                    404: "`not_found`: no such job, another shop's, or the shop is not a "
                    "sandbox shop.",
                    409: "`invalid_transition`: the job has no next step (delivered, "
                    "returned, cancelled, unassigned or still scheduled); "
                    "`offer_no_longer_available`: the robo courier's offer could not be "
                    "taken (it expired, or the job was taken meanwhile).",
                }
            ),
        },
        tags=["sandbox"],
        operation_id="sandbox_job_advance",
    )
    def post(self, request: Request, pk: Any) -> Response:
        job = sandbox_advance(shop=request.user.shop, job_pk=pk)
        return Response(JobSecretsOutputSerializer(job, context={"request": request}).data)
