"""OpenAPI links: which operations take the ids an answer names (for clients and the fuzzer)."""

from __future__ import annotations

import copy
from typing import Any

# A link is {"operationId": ..., "parameters": {name: runtime expression}} or with a
# "requestBody". Links are followed by the same caller that got the answer, so each
# group below leads only to operations that caller may use: a shop's job to the shop's
# job endpoints and to its tracking link, a courier's offer to its answers and the job
# it brings to the courier's job endpoints.
Link = dict[str, Any]

# What a shop can do with one of its jobs.
SHOP_JOB_OPERATIONS = {
    "GetJob": "v1_jobs_retrieve",
    "GetJobEvents": "v1_jobs_events_retrieve",
    "GetJobProof": "v1_jobs_proof_retrieve",
    "CancelJob": "v1_jobs_cancel_create",
    "RepostJob": "v1_jobs_repost_create",
    "TipJob": "v1_jobs_tip_create",
    "RotateTrackingLink": "job_tracking_rotate",
    "ListJobDisputes": "v1_jobs_disputes_retrieve",
    "OpenDispute": "v1_jobs_disputes_create",
    "AdvanceSandboxJob": "sandbox_job_advance",
}
# What the recipient can do with a job's tracking link (no account: the token is the key).
TRACKING_OPERATIONS = {
    "Track": "tracking_get",
    "ChooseDeliveryOption": "tracking_delivery_option",
    "GiveInstructions": "tracking_instructions",
    "ReportProblem": "tracking_problem",
    "RateDelivery": "tracking_rating",
    "Reschedule": "tracking_reschedule",
}
# What a courier can do with a job it holds.
COURIER_JOB_OPERATIONS = {
    "GetCourierJob": "v1_courier_jobs_retrieve",
    "ArriveAtPickup": "v1_courier_jobs_arrive_pickup_create",
    "PickUp": "v1_courier_jobs_pickup_create",
    "ArriveAtDropoff": "v1_courier_jobs_arrive_dropoff_create",
    "Deliver": "v1_courier_jobs_deliver_create",
    "FailDelivery": "v1_courier_jobs_fail_create",
    "Returned": "v1_courier_jobs_returned_create",
    "DropJob": "v1_courier_jobs_drop_create",
}
OFFER_OPERATIONS = {
    "AcceptOffer": "v1_courier_offers_accept_create",
    "DeclineOffer": "v1_courier_offers_decline_create",
}
COURIER_DISPUTE_OPERATIONS = {
    "GetDispute": "v1_disputes_retrieve",
    "ReplyToDispute": "v1_courier_disputes_reply_create",
}


def links_to(operations: dict[str, str], **parameters: str) -> dict[str, Link]:
    """One link per operation, each taking the same path parameters from the answer."""
    return {
        name: {"operationId": operation_id, "parameters": dict(parameters)}
        for name, operation_id in operations.items()
    }


def _shop_job(pointer: str) -> dict[str, Link]:
    return {
        **links_to(SHOP_JOB_OPERATIONS, id=f"$response.body#{pointer}/id"),
        **links_to(TRACKING_OPERATIONS, token=f"$response.body#{pointer}/tracking_token"),
    }


def _courier_job(pointer: str) -> dict[str, Link]:
    return links_to(COURIER_JOB_OPERATIONS, id=f"$response.body#{pointer}")


_SHOP_JOB = _shop_job("")
# A courier's job answers name it by ``id``; offer answers by ``job_id``.
_COURIER_JOB = _courier_job("/id")
# A delivered or returned job is no longer the courier's to move; it may read it, and open
# a dispute about it.
_COURIER_JOB_READ = {
    "GetCourierJob": _COURIER_JOB["GetCourierJob"],
    "OpenCourierDispute": {
        "operationId": "v1_courier_disputes_create",
        "requestBody": {"job_id": "$response.body#/id"},
    },
}

# (operationId, status) -> link name -> link. Add a row when an answer names an object
# another operation takes; tests/marketplace/test_schema_links.py checks every row
# against the schema (operation, parameters, and the answer's property).
LINKS: dict[tuple[str, str], dict[str, Link]] = {
    # A shop: a quote becomes a job; a job leads to its endpoints and its tracking link.
    ("quote_create", "201"): {
        "PostJobFromQuote": {
            "operationId": "job_create",
            "requestBody": {"quote_id": "$response.body#/id"},
        }
    },
    ("job_create", "201"): _SHOP_JOB,
    ("job_create", "200"): _SHOP_JOB,
    ("v1_jobs_retrieve", "200"): _SHOP_JOB,
    ("v1_jobs_cancel_create", "200"): _SHOP_JOB,
    ("v1_jobs_repost_create", "200"): _SHOP_JOB,
    ("sandbox_job_advance", "200"): _SHOP_JOB,
    ("job_list", "200"): _shop_job("/results/0"),
    ("v1_jobs_tip_create", "201"): links_to(
        {"GetJob": "v1_jobs_retrieve"}, id="$response.body#/job_id"
    ),
    ("job_tracking_rotate", "200"): links_to(
        TRACKING_OPERATIONS, token="$response.body#/tracking_token"
    ),
    ("v1_jobs_proof_retrieve", "200"): {
        "GetProofPhoto": {
            "operationId": "v1_jobs_photos_retrieve",
            "parameters": {
                "id": "$response.body#/job_id",
                "photo_pk": "$response.body#/photos/0/id",
            },
        }
    },
    ("v1_jobs_disputes_create", "201"): links_to(
        {"GetDispute": "v1_disputes_retrieve"}, id="$response.body#/id"
    ),
    ("v1_jobs_disputes_retrieve", "200"): links_to(
        {"GetDispute": "v1_disputes_retrieve"}, id="$response.body#/results/0/id"
    ),
    ("v1_payments_shop_payment_method_retrieve", "200"): {
        "SaveThePaymentMethodAgain": {
            "operationId": "v1_payments_shop_payment_method_update",
            "requestBody": {"payment_method": "$response.body#/payment_method"},
        }
    },
    # A courier: an offer leads to its answers, an accepted one to the job's steps.
    ("v1_courier_offers_list", "200"): links_to(
        OFFER_OPERATIONS, offer_id="$response.body#/0/offer_id"
    ),
    ("v1_courier_offers_accept_create", "200"): _courier_job("/job_id"),
    ("v1_courier_jobs_list", "200"): _courier_job("/results/0/id"),
    ("v1_courier_jobs_retrieve", "200"): _COURIER_JOB,
    ("v1_courier_jobs_arrive_pickup_create", "200"): _COURIER_JOB,
    ("v1_courier_jobs_pickup_create", "200"): _COURIER_JOB,
    ("v1_courier_jobs_arrive_dropoff_create", "200"): _COURIER_JOB,
    ("v1_courier_jobs_deliver_create", "200"): _COURIER_JOB_READ,
    ("v1_courier_jobs_fail_create", "200"): _COURIER_JOB,
    ("v1_courier_jobs_returned_create", "200"): _COURIER_JOB_READ,
    ("v1_courier_disputes_retrieve", "200"): links_to(
        COURIER_DISPUTE_OPERATIONS, id="$response.body#/results/0/id"
    ),
    ("v1_courier_disputes_create", "201"): links_to(
        COURIER_DISPUTE_OPERATIONS, id="$response.body#/id"
    ),
    ("v1_courier_disputes_reply_create", "200"): links_to(
        COURIER_DISPUTE_OPERATIONS, id="$response.body#/id"
    ),
}


def add_links(result: dict) -> None:
    """Attach LINKS to the responses they start from (a drf-spectacular postprocessing step)."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                links = LINKS.get((operation.get("operationId"), status))
                if links:
                    response["links"] = copy.deepcopy(links)
