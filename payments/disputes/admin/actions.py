"""The dispute page's actions: who may press each, its form, and the one service it calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from marketplace.models import User
from payments.disputes import permissions as perms
from payments.disputes import services
from payments.disputes.admin.forms import (
    ActionForm,
    AmountForm,
    ConfirmForm,
    FullRefundForm,
    PartialRefundForm,
    RejectForm,
    RequestInfoForm,
)
from payments.models import Dispute, DisputeAction


@dataclass(frozen=True)
class ActionSpec:
    """One button on the page: who may press it, its form, and the one service it calls."""

    kind: str
    label: str
    form: type[ActionForm]
    call: Callable[[Dispute, User, dict[str, Any]], DisputeAction]
    applies: Callable[[Dispute, set[str]], bool]  # (the dispute, the kinds done on it)
    moves_money: bool


REFUNDS = {perms.FULL_REFUND, perms.PARTIAL_REFUND}


def _open(dispute: Dispute, done: set[str]) -> bool:
    return dispute.is_open


def _open_claim(dispute: Dispute, done: set[str]) -> bool:
    return dispute.is_open and not dispute.is_chargeback


def _refund(dispute: Dispute, done: set[str]) -> bool:
    """A claim takes one refund, also after another money action resolved it."""
    return (
        (dispute.is_open or dispute.state == "resolved")
        and not dispute.is_chargeback
        and not done & REFUNDS
    )


def _courier_money(kind: str) -> Callable[[Dispute, set[str]], bool]:
    """One adjustment and one compensation per dispute, also once it is resolved."""

    def applies(dispute: Dispute, done: set[str]) -> bool:
        return (
            (dispute.is_open or dispute.state == "resolved")
            and dispute.job.courier_id is not None
            and kind not in done
        )

    return applies


def _evidence(dispute: Dispute, done: set[str]) -> bool:
    return dispute.is_chargeback and dispute.is_open and perms.SUBMIT_EVIDENCE not in done


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(
        perms.FULL_REFUND,
        "Refund everything",
        FullRefundForm,
        lambda d, u, c: services.dispute_full_refund(
            dispute=d, actor=u, note=c["note"], idempotency_key=c["idempotency_key"]
        ),
        _refund,
        True,
    ),
    ActionSpec(
        perms.PARTIAL_REFUND,
        "Refund part",
        PartialRefundForm,
        lambda d, u, c: services.dispute_refund(
            dispute=d,
            actor=u,
            value_minor=c["value_minor"],
            fee_minor=c["fee_minor"],
            tip_minor=c["tip_minor"],
            note=c["note"],
            idempotency_key=c["idempotency_key"],
        ),
        _refund,
        True,
    ),
    ActionSpec(
        perms.COURIER_ADJUSTMENT,
        "Take back from the courier",
        AmountForm,
        lambda d, u, c: services.dispute_courier_adjust(
            dispute=d,
            actor=u,
            amount_minor=c["amount_minor"],
            note=c["note"],
            idempotency_key=c["idempotency_key"],
        ),
        _courier_money(perms.COURIER_ADJUSTMENT),
        True,
    ),
    ActionSpec(
        perms.COURIER_COMPENSATION,
        "Compensate the courier",
        AmountForm,
        lambda d, u, c: services.dispute_courier_compensate(
            dispute=d,
            actor=u,
            amount_minor=c["amount_minor"],
            note=c["note"],
            idempotency_key=c["idempotency_key"],
        ),
        _courier_money(perms.COURIER_COMPENSATION),
        True,
    ),
    ActionSpec(
        perms.REJECT,
        "Reject the claim",
        RejectForm,
        lambda d, u, c: services.dispute_reject(
            dispute=d, actor=u, reason=c["reason"], idempotency_key=c["idempotency_key"]
        ),
        _open_claim,
        False,
    ),
    ActionSpec(
        perms.REQUEST_INFO,
        "Ask for more information",
        RequestInfoForm,
        lambda d, u, c: services.dispute_request_info(
            dispute=d,
            actor=u,
            party=c["party"],
            message=c["message"],
            idempotency_key=c["idempotency_key"],
        ),
        _open,
        False,
    ),
    ActionSpec(
        perms.SUBMIT_EVIDENCE,
        "Submit the evidence to Stripe",
        ConfirmForm,
        lambda d, u, c: services.dispute_submit_evidence(
            dispute=d, actor=u, idempotency_key=c["idempotency_key"]
        ),
        _evidence,
        True,
    ),
)
ACTIONS_BY_KIND = {spec.kind: spec for spec in ACTIONS}
