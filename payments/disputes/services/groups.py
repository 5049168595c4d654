"""The dispute staff groups (support, finance), made to exist after every migrate and flush."""

from __future__ import annotations

from django.contrib.auth.models import Group

from payments.disputes.permissions import FINANCE_GROUP, SUPPORT_GROUP

DISPUTE_GROUPS = (SUPPORT_GROUP, FINANCE_GROUP)


def dispute_groups_ensure(*, using: str = "default") -> list[str]:
    """Create whichever dispute groups are missing; return the names it created.

    Idempotent: a second call creates nothing. ``bulk_create(ignore_conflicts=True)`` on the
    unique group name means two processes migrating at once cannot both insert a group.
    """
    existing = set(
        Group.objects.using(using).filter(name__in=DISPUTE_GROUPS).values_list("name", flat=True)
    )
    missing = [name for name in DISPUTE_GROUPS if name not in existing]
    Group.objects.using(using).bulk_create(
        [Group(name=name) for name in missing], ignore_conflicts=True
    )
    return missing
