"""Reads for the demo city: the seeded logins, and the integrity counts after a run.

Every integrity count must be zero. The job-level checks cover the jobs one run posted;
the ledger check covers every entry.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef

from couriers.models import Courier
from jobs.models import COURIER_ACTIVE_STATUSES, Job, JobStatus, Offer
from marketplace.models import Shop, User
from payments.demo.plan import demo_password
from payments.models import JobPayment, PaymentStatus, Transfer, TransferKind, TransferState
from payments.reconcile import reconcile

FINAL = (JobStatus.DELIVERED, JobStatus.RETURNED, JobStatus.CANCELLED)


def demo_city_logins(*, couriers: int | None = None) -> dict[str, list[tuple[str, str]]]:
    """``{"shops": [(username, password)], "couriers": [...]}``: the seeded accounts.

    Shops are the sandbox shops' demo users, couriers the first ``couriers`` robo couriers
    by username (all when None).
    """
    shop_ids = Shop.objects.filter(is_sandbox=True).values("pk")
    shop_users = User.objects.filter(shop__in=shop_ids, username__startswith="demo-shop-")
    courier_users = User.objects.filter(
        pk__in=Courier.objects.filter(is_robo=True).values("user_id"),
        username__startswith="demo-courier-",
    )
    shop_names = list(shop_users.order_by("username").values_list("username", flat=True))
    courier_names = list(courier_users.order_by("username").values_list("username", flat=True))
    if couriers is not None:
        courier_names = courier_names[:couriers]
    secret = settings.SECRET_KEY
    return {
        "shops": [(name, demo_password(name, secret)) for name in shop_names],
        "couriers": [(name, demo_password(name, secret)) for name in courier_names],
    }


def unsettled_job_count(*, job_ids: Collection[str]) -> int:
    """Delivered jobs of the run whose capture or courier transfer is not done yet."""
    counts = run_money_counts(job_ids=job_ids)
    return counts["delivered_not_captured"] + counts["delivered_not_transferred"]


def run_money_counts(*, job_ids: Collection[str]) -> dict[str, int]:
    delivered = Job.objects.filter(pk__in=list(job_ids), status=JobStatus.DELIVERED)
    captured = JobPayment.objects.filter(
        job_id__in=delivered.values("pk"),
        status=PaymentStatus.CAPTURED,
        captured_minor=F("job__total_minor") + F("job__tip_minor"),
    ).values("job_id")
    transferred = Transfer.objects.filter(
        job_id__in=delivered.values("pk"),
        kind=TransferKind.PAYOUT,
        state=TransferState.PAID,
        amount_minor=F("job__courier_payout_minor") + F("job__tip_minor"),
    ).values("job_id")
    return {
        "delivered_not_captured": delivered.exclude(pk__in=captured).count(),
        "delivered_not_transferred": delivered.exclude(pk__in=transferred).count(),
    }


def run_integrity(*, job_ids: Collection[str], since: datetime) -> dict[str, Any]:
    """The counts that must all be zero after a run, and what each difference was."""
    ids = [str(pk) for pk in job_ids]
    jobs = Job.objects.filter(pk__in=ids)
    two_accepted = (
        Offer.objects.filter(job_id__in=ids, status="accepted")
        .values("job_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )
    accepted_by_courier = Offer.objects.filter(
        job_id=OuterRef("pk"), status="accepted", courier_id=OuterRef("courier_id")
    )
    wrong_courier = jobs.filter(courier__isnull=False).exclude(Exists(accepted_by_courier)).count()
    two_active = (
        Job.objects.filter(status__in=COURIER_ACTIVE_STATUSES, courier__isnull=False)
        .values("courier_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )
    differences = [
        difference
        for difference in reconcile(since=since).differences
        if difference.get("job_id") is None or difference["job_id"] in ids
    ]
    counts = {
        "jobs_not_ended": jobs.exclude(status__in=FINAL).count(),
        "jobs_with_two_accepted_offers": two_accepted,
        "jobs_whose_courier_is_not_the_accepted_one": wrong_courier,
        "couriers_with_two_active_jobs": two_active,
        **run_money_counts(job_ids=ids),
        "unbalanced_ledger_entries": _unbalanced_entries(),
        "reconciliation_differences": len(differences),
    }
    return {"counts": counts, "differences": differences}


def _unbalanced_entries() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT entry_id, currency FROM payments_journalline "
            "GROUP BY entry_id, currency HAVING sum(amount_minor) <> 0) unbalanced"
        )
        return cursor.fetchone()[0]
