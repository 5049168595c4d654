"""Dispute tasks: the periodic sweep, and handling a chargeback event."""

from __future__ import annotations

from payments.disputes.services.sweep import disputes_sweep


def disputes_sweep_task() -> dict[str, int]:
    return disputes_sweep()
