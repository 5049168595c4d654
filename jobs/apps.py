"""App config for jobs; plugs jobs into the couriers app's hooks."""

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        # couriers may not import jobs: it asks these through couriers.hooks instead.
        from couriers import hooks
        from jobs.courier_steps.selectors import courier_active_job_pk
        from jobs.dispatch.offers import offers_withdraw_for_offline_couriers
        from jobs.tracking.publish import tracking_position_shown, tracking_position_shown_async

        hooks.active_job_provider_set(courier_active_job_pk)
        hooks.offline_subscribe(offers_withdraw_for_offline_couriers)
        hooks.position_subscribe(tracking_position_shown)
        hooks.position_subscribe_async(tracking_position_shown_async)
