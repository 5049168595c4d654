"""Opening a dispute, the courier's reply, rejecting and asking for information.

Every service locks the dispute row (``select_for_update``) before it reads the state, so
two calls on one dispute run one after the other; the lock order is dispute, then the
job's payment, then its transfers. Each writes one ``DisputeAction`` under its
idempotency key: the same key again returns the first action and changes nothing.
"""

from payments.disputes.services.core.common import (
    MAX_TEXT,
    K,
    _check_amount,
    _check_key,
    _check_positive_amount,
    _check_text,
    action_record,
    action_replay,
    dispute_lock,
    dispute_move,
    photos_store,
    require,
)
from payments.disputes.services.core.opening import (
    NOT_STARTED,
    PROBLEM_REASONS,
    _opener_may_open,
    dispute_from_problem,
    dispute_open,
)
from payments.disputes.services.core.review import (
    dispute_courier_reply,
    dispute_reject,
    dispute_request_info,
)

__all__ = [
    "MAX_TEXT",
    "NOT_STARTED",
    "PROBLEM_REASONS",
    "K",
    "_check_amount",
    "_check_key",
    "_check_positive_amount",
    "_check_text",
    "_opener_may_open",
    "action_record",
    "action_replay",
    "dispute_courier_reply",
    "dispute_from_problem",
    "dispute_lock",
    "dispute_move",
    "dispute_open",
    "dispute_reject",
    "dispute_request_info",
    "photos_store",
    "require",
]
