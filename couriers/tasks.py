"""Periodic courier housekeeping run by django-q2 (registered in marketplace.schedules)."""

from __future__ import annotations

from couriers.services import couriers_mark_stale_offline, location_pings_delete_old


def couriers_mark_stale_offline_task() -> int:
    """Every minute: available couriers silent for COURIER_STALE_AFTER_SECONDS go offline."""
    return len(couriers_mark_stale_offline())


def location_pings_retention_task() -> int:
    """Hourly: delete breadcrumbs older than LOCATION_RETENTION_DAYS, in chunks."""
    return location_pings_delete_old()
