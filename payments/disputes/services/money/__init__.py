"""The dispute actions that move money: refunds, courier adjustments, courier compensation.

Each runs in one transaction: lock the dispute, replay the action if its idempotency key
was seen, check the state, the actor's permission and the amounts, then write the
``DisputeAction``, post the ledger entry we can post now and queue the Stripe call as a
money command (``payments.outbox``), whose result posts the rest. A dispute takes one
refund, one courier adjustment and one compensation (unique constraints), so two staff
pressing the same button, even from two forms, move money once.

Ledger entries (debit +, credit -):
  refund R              refunds +R · stripe_clearing -R            (key ``refund:<re_id>``)
  courier adjustment A  courier_payable:c +A · refunds -A          (chargebacks -A instead
                        on a chargeback), then for what was already transferred a reversal
                        stripe_clearing +V · courier_payable:c -V  (key ``reversal:<trr_id>``)
  compensation C        compensations +C · courier_payable:c -C, then the transfer
                        courier_payable:c +C · stripe_clearing -C
"""

from payments.disputes.services.money.common import (
    K,
)
from payments.disputes.services.money.courier import (
    EARNING_KINDS,
    adjustable_minor,
    dispute_courier_adjust,
    dispute_courier_compensate,
)
from payments.disputes.services.money.refunds import (
    dispute_full_refund,
    dispute_refund,
    refundable_parts,
)

__all__ = [
    "EARNING_KINDS",
    "K",
    "adjustable_minor",
    "dispute_courier_adjust",
    "dispute_courier_compensate",
    "dispute_full_refund",
    "dispute_refund",
    "refundable_parts",
]
