"""What a job's moves mean for its money, and what each executed money command records.

``on_job_transitioned`` is the ``transitioned`` job hook: it runs inside the transaction
that moved the job and writes the money command the move calls for (delivered → capture
all, cancelled → cancel the hold or capture only the fee, returned → capture the zone's
return fee). ``command_apply`` runs once per command, in the transaction that marks it
succeeded: it updates the payment or transfer, posts the ledger entries, and writes the
transfer the courier is owed.

Ledger entries (debit +, credit -, each sums to zero):
  capture C        stripe_clearing +C, platform_revenue -(C - share), courier_payable:c -share
  Stripe fee F     stripe_fees +F, stripe_clearing -F
  transfer T       courier_payable:c +T, stripe_clearing -T
  refund R         refunds +R, stripe_clearing -R               (a dispute's refund)
  refund failed R  refunds -R, stripe_clearing +R               (Stripe failed it later)
  reversal V       stripe_clearing +V, courier_payable:c -V     (a courier adjustment)
"""

from payments.flows.moves import (
    PaymentNotHeld,
    hold_cancel_enqueue,
    on_job_transitioned,
    percent_of,
)
from payments.flows.results import (
    CLEARING,
    command_apply,
    command_failed,
    fee_post,
    job_charge_refunds_booked,
    refund_entry_post,
    refund_failure_post,
    refund_recorded,
    reversal_recorded,
)
from payments.flows.transfers import (
    payouts_release,
    transfer_owe,
    transfers_unfreeze,
)

__all__ = [
    "CLEARING",
    "PaymentNotHeld",
    "command_apply",
    "command_failed",
    "fee_post",
    "hold_cancel_enqueue",
    "job_charge_refunds_booked",
    "on_job_transitioned",
    "payouts_release",
    "percent_of",
    "refund_entry_post",
    "refund_failure_post",
    "refund_recorded",
    "reversal_recorded",
    "transfer_owe",
    "transfers_unfreeze",
]
