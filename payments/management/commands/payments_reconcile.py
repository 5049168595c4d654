"""``manage.py payments_reconcile [--since ISO]``: compare the ledger with Stripe, print every
difference, store the report; exits 1 when there are differences."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from payments.reconcile import reconcile_and_store


class Command(BaseCommand):
    help = "Compare our ledger and payment rows with Stripe; print and store every difference."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", help="Only Stripe objects created since (ISO 8601).")

    def handle(self, *args: Any, **options: Any) -> None:
        since = None
        if options.get("since"):
            since = parse_datetime(options["since"])
            if since is None:
                raise CommandError("--since must be an ISO 8601 date-time, e.g. 2026-01-31T00:00Z")
        report = reconcile_and_store(since=since)
        for difference in report.differences:
            self.stdout.write(json.dumps(difference, sort_keys=True, default=str))
        checked = ", ".join(f"{count} {name}" for name, count in sorted(report.checked.items()))
        self.stdout.write(
            f"{report.difference_count} difference(s); checked {checked or 'nothing'}"
        )
        if report.difference_count:
            raise SystemExit(1)
