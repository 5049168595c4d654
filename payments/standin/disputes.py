"""The stand-in's disputes: opened and closed by test helpers, answered through the API."""

from __future__ import annotations

from typing import Any

from payments.standin.files import evidence_file
from payments.standin.forms import Call, Params, StripeFailure
from payments.standin.store import Store, new_id

# Stripe's text and file evidence fields (stripe-python's DisputeUpdateParamsEvidence).
EVIDENCE_FIELDS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
)
# The fields that take the id of a file uploaded with purpose dispute_evidence.
FILE_EVIDENCE_FIELDS = frozenset(
    {
        "cancellation_policy",
        "customer_communication",
        "customer_signature",
        "duplicate_charge_documentation",
        "receipt",
        "refund_policy",
        "service_documentation",
        "shipping_documentation",
        "uncategorized_file",
    }
)
EVIDENCE_MAX_CHARS = 150_000
RESPONDING = {"needs_response": "under_review", "warning_needs_response": "warning_under_review"}


def dispute_open(
    store: Store, charge_id: str, *, amount: int | None, reason: str
) -> dict[str, Any]:
    """The card holder disputes a captured charge: the amount and the fee leave the balance."""
    charge = store.get("charge", charge_id)
    if not charge["captured"] or charge["disputed"]:
        raise StripeFailure(400, f"Charge {charge_id} cannot be disputed.", code="charge_disputed")
    amount = charge["amount_captured"] - charge["amount_refunded"] if amount is None else amount
    dispute_id = new_id("dp_")
    txn = store.balance_transaction(
        amount=-amount,
        currency=charge["currency"],
        type="adjustment",
        source=dispute_id,
        fee=store.dispute_fee_minor,
        description=f"Chargeback withdrawal for {charge_id}",
        reporting_category="dispute",
    )
    dispute = store.add(
        "dispute",
        {
            "id": dispute_id,
            "amount": amount,
            # Stripe answers with the balance transactions themselves, not their ids.
            "balance_transactions": [txn],
            "charge": charge_id,
            "currency": charge["currency"],
            "evidence": dict.fromkeys(EVIDENCE_FIELDS),
            "evidence_details": {
                "due_by": store.now() + 7 * 24 * 3600,
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
            },
            "is_charge_refundable": False,
            "metadata": {},
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "status": "needs_response",
        },
    )
    charge["disputed"] = True
    store.emit("charge.dispute.created", dispute)
    store.emit("charge.dispute.funds_withdrawn", dispute)
    return dispute


def dispute_close(store: Store, dispute_id: str, *, outcome: str) -> dict[str, Any]:
    """Won: the disputed amount comes back (the fee does not). Lost: nothing comes back."""
    dispute = store.get("dispute", dispute_id)
    if dispute["status"] in ("won", "lost"):
        raise StripeFailure(400, f"Dispute {dispute_id} is already closed.", code="dispute_closed")
    if outcome not in ("won", "lost"):
        raise StripeFailure(
            400, "outcome must be won or lost", code="parameter_invalid", param="outcome"
        )
    previous = dispute["status"]
    dispute["status"] = outcome
    if outcome == "won":
        txn = store.balance_transaction(
            amount=dispute["amount"],
            currency=dispute["currency"],
            type="adjustment",
            source=dispute_id,
            description=f"Chargeback reversal for {dispute['charge']}",
            reporting_category="dispute_reversal",
        )
        dispute["balance_transactions"].append(txn)
        store.emit("charge.dispute.funds_reinstated", dispute)
    store.emit("charge.dispute.closed", dispute, previous_attributes={"status": previous})
    return dispute


def dispute_update(store: Store, call: Call) -> dict[str, Any]:
    """Stage evidence, or submit it (``submit`` defaults to true, as at Stripe): while the
    dispute needs a response; afterwards Stripe refuses any change of evidence."""
    dispute = store.get("dispute", call.args[0], param="dispute")
    p = Params(call.params.data, allowed={"evidence", "metadata", "submit"})
    evidence = p.dict("evidence")
    for key, value in evidence.items():
        if key not in EVIDENCE_FIELDS:
            raise StripeFailure(
                400,
                f"Received unknown parameter: evidence[{key}]",
                code="parameter_unknown",
                param=f"evidence[{key}]",
            )
        if not isinstance(value, str):
            raise StripeFailure(
                400, "Invalid string", code="parameter_invalid_string", param=f"evidence[{key}]"
            )
        if key in FILE_EVIDENCE_FIELDS and value:
            evidence_file(store, value, param=f"evidence[{key}]", account=dispute["_account"])
    if sum(len(value) for value in evidence.values()) > EVIDENCE_MAX_CHARS:
        raise StripeFailure(400, "The evidence is longer than 150000 characters.", param="evidence")
    submit = p.bool("submit", True)
    if (evidence or submit) and dispute["status"] not in RESPONDING:
        raise StripeFailure(
            400,
            f"This dispute is {dispute['status']}; its evidence can no longer be changed.",
            param="evidence",
        )
    previous = {"status": dispute["status"]}
    dispute["evidence"].update(evidence)
    dispute["metadata"].update(p.metadata())
    details = dispute["evidence_details"]
    details["has_evidence"] = details["has_evidence"] or bool(evidence)
    if submit:
        dispute["status"] = RESPONDING[dispute["status"]]
        details["submission_count"] += 1
    store.emit("charge.dispute.updated", dispute, previous_attributes=previous)
    return dispute


def dispute_retrieve(store: Store, call: Call) -> dict[str, Any]:
    return store.get("dispute", call.args[0])


def dispute_list(store: Store, call: Call) -> dict[str, Any]:
    return store.list_answer("dispute", call.params, url="/v1/disputes")
