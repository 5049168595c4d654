"""App config for payments: subscribes to the job hooks (jobs never imports payments)."""

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _dispute_groups_after_migrate(
    sender: AppConfig, using: str = "default", apps: Any = None, **kwargs: Any
) -> None:
    """The support and finance groups exist after every migrate, and after every flush (a
    transactional test's truncation included), as Django's own permissions do."""
    from payments.disputes.services.groups import dispute_groups_ensure

    try:
        if apps is not None:
            apps.get_model("auth", "Group")
    except LookupError:  # migrated back past auth's tables: nothing to fill
        return
    dispute_groups_ensure(using=using)


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        post_migrate.connect(
            _dispute_groups_after_migrate, sender=self, dispatch_uid="payments.dispute_groups"
        )

        from jobs.hooks import hook_register
        from payments.authorisation import (
            job_authorisation_abandon,
            job_authorise,
            job_payment_attach,
            job_release_authorise,
        )
        from payments.disputes.services import dispute_from_problem
        from payments.flows import on_job_transitioned
        from payments.selectors import job_payment_outputs

        hook_register("authorise", job_authorise)
        hook_register("created", job_payment_attach)
        hook_register("abandon", job_authorisation_abandon)
        hook_register("release", job_release_authorise)
        hook_register("transitioned", on_job_transitioned)
        hook_register("job_output", job_payment_outputs)
        hook_register("problem_reported", dispute_from_problem)
