"""django-q2 tasks of payments: they take ids, re-fetch, and call one service."""

from __future__ import annotations

import logging

from payments.outbox import command_run, commands_sweep

logger = logging.getLogger(__name__)


def money_command_task(pk: int) -> str | None:
    """Run one money command (a no-op if it is not due or another worker holds it)."""
    return command_run(pk=pk)


def stripe_event_task(pk: int) -> bool:
    from payments.webhooks import stripe_event_handle

    return stripe_event_handle(pk=pk)


def payments_sweep_task() -> int:
    """Every minute: re-drive due and stale commands, cancel orphaned authorisations, and
    release holds no delivery can use any more."""
    from payments.sweeper import holds_release, orphans_cancel

    queued = commands_sweep()
    cancelled = orphans_cancel()
    released = holds_release()
    if queued or cancelled or released:
        logger.info(
            "payments sweep: %d command(s) queued, %d orphan(s) cancelled, %d hold(s) released",
            len(queued),
            cancelled,
            released,
        )
    return len(queued) + cancelled + released


def payments_reconcile_task() -> int:
    """Daily: compare the ledger with Stripe and store the report; how many differences."""
    from payments.reconcile import reconcile_and_store

    return reconcile_and_store().difference_count
