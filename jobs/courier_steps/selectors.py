"""Reads for the courier and proof views: my jobs, a job a user may see, proof and photos."""

from __future__ import annotations

from uuid import UUID

from django.db.models import Case, F, IntegerField, QuerySet, Value, When

from couriers.models import Courier
from jobs.courier_steps.base import JobNotFound
from jobs.models import COURIER_ACTIVE_STATUSES, Job, JobPhoto, ProofOfDelivery
from marketplace.models import Role, User


def courier_jobs_list(*, courier: Courier) -> QuerySet[Job]:
    """The courier's jobs: the active one first, then the most recently assigned."""
    return (
        Job.objects.filter(courier=courier)
        .select_related("proof")
        .annotate(
            active_rank=Case(
                When(status__in=COURIER_ACTIVE_STATUSES, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("active_rank", F("assigned_at").desc(nulls_last=True), "-created_at", "pk")
    )


def courier_active_job_pk(courier_pk: int) -> UUID | None:
    """The job the courier holds right now (at most one, by constraint), if any.

    The provider behind ``couriers.hooks.courier_active_job_pk`` (see ``JobsConfig``).
    """
    return (
        Job.objects.filter(courier_id=courier_pk, status__in=COURIER_ACTIVE_STATUSES)
        .values_list("pk", flat=True)
        .first()
    )


def courier_job_get(*, courier: Courier, job_pk: UUID | str) -> Job:
    """One of the courier's own jobs; any other job is 'not found'."""
    job = Job.objects.filter(pk=job_pk, courier=courier).select_related("proof").first()
    if job is None:
        raise JobNotFound()
    return job


def job_get_for_viewer(*, user: User, job_pk: UUID | str, allow_courier: bool = False) -> Job:
    """A job the user may see: staff any, a shop its own, the assigned courier if allowed."""
    jobs = Job.objects.all()
    role = user.role
    if role == Role.SHOP:
        jobs = jobs.filter(shop_id=user.shop_id)
    elif role == Role.COURIER and allow_courier:
        jobs = jobs.filter(courier__user=user)
    elif role != Role.STAFF:
        raise JobNotFound()
    job = jobs.filter(pk=job_pk).first()
    if job is None:
        raise JobNotFound()
    return job


def job_proof_get(*, job: Job) -> ProofOfDelivery:
    proof = ProofOfDelivery.objects.filter(job=job).first()
    if proof is None:
        raise JobNotFound("This job has no proof of delivery yet.")
    return proof


def job_photos_list(*, job: Job) -> QuerySet[JobPhoto]:
    """The job's photos without their bytes."""
    return JobPhoto.objects.filter(job=job).defer("data").order_by("created_at", "pk")


def job_photo_get(*, job: Job, photo_pk: UUID | str) -> JobPhoto:
    photo = JobPhoto.objects.filter(job=job, pk=photo_pk).first()
    if photo is None:
        raise JobNotFound("No such photo on this job.")
    return photo
