"""The support and finance groups exist after every migrate and flush, created once each."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from marketplace.models import User
from payments.disputes.services.groups import dispute_groups_ensure
from tests.factories import UserFactory


def _group_names() -> list[str]:
    return sorted(Group.objects.values_list("name", flat=True))


@pytest.mark.django_db(transaction=True)
def test_groups_come_back_after_a_flush() -> None:
    UserFactory()
    call_command("flush", interactive=False, verbosity=0)
    # The flush emptied every table (the user is gone) and the groups were made again.
    assert User.objects.count() == 0
    assert _group_names() == ["finance", "support"]


@pytest.mark.django_db
def test_ensure_creates_only_what_is_missing() -> None:
    support_pk = Group.objects.get(name="support").pk
    assert dispute_groups_ensure() == []
    Group.objects.filter(name="finance").delete()
    assert dispute_groups_ensure() == ["finance"]
    assert dispute_groups_ensure() == []
    assert _group_names() == ["finance", "support"]
    assert Group.objects.get(name="support").pk == support_pk
