"""Who may do what with disputes: the support and finance groups, superusers, nobody else.

The services check these on every call (the admin only hides what a user may not press).
``support`` views, asks for information, rejects, and refunds up to
``DISPUTE_SUPPORT_REFUND_LIMIT_MINOR`` (all parts together); ``finance`` does every
action at any amount; superusers likewise. Other staff, and every non-staff user, see
nothing.
"""

from __future__ import annotations

from django.conf import settings

from marketplace.models import User

SUPPORT_GROUP = "support"
FINANCE_GROUP = "finance"

VIEW = "view"
FULL_REFUND = "full_refund"
PARTIAL_REFUND = "partial_refund"
COURIER_ADJUSTMENT = "courier_adjustment"
COURIER_COMPENSATION = "courier_compensation"
REJECT = "reject"
REQUEST_INFO = "request_info"
SUBMIT_EVIDENCE = "submit_evidence"

ALL_ACTIONS = frozenset(
    {
        VIEW,
        FULL_REFUND,
        PARTIAL_REFUND,
        COURIER_ADJUSTMENT,
        COURIER_COMPENSATION,
        REJECT,
        REQUEST_INFO,
        SUBMIT_EVIDENCE,
    }
)
SUPPORT_ACTIONS = frozenset({VIEW, REQUEST_INFO, REJECT, FULL_REFUND, PARTIAL_REFUND})


def _role(user: User | None) -> str | None:
    if user is None or not user.is_active or not user.is_staff:
        return None
    if user.is_superuser:
        return "superuser"
    names = set(
        user.groups.filter(name__in=[SUPPORT_GROUP, FINANCE_GROUP]).values_list("name", flat=True)
    )
    if FINANCE_GROUP in names:
        return FINANCE_GROUP
    if SUPPORT_GROUP in names:
        return SUPPORT_GROUP
    return None


def dispute_permissions(user: User | None) -> set[str]:
    """The dispute actions ``user`` may take (empty for anyone who is not dispute staff)."""
    role = _role(user)
    if role is None:
        return set()
    return set(SUPPORT_ACTIONS if role == SUPPORT_GROUP else ALL_ACTIONS)


def refund_limit_minor(user: User | None) -> int | None:
    """The largest refund ``user`` may make, or None for no limit (finance, superusers)."""
    if _role(user) == SUPPORT_GROUP:
        return settings.DISPUTE_SUPPORT_REFUND_LIMIT_MINOR
    return None
