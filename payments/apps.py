"""App config for payments: subscribes to the job hooks (jobs never imports payments)."""

from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
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
