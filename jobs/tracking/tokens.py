"""Tracking links: derive a job's token, find a job by token, rotate, build the public URL.

A token is ``base64url(HMAC-SHA256(SECRET_KEY, job id + salt))``: 192 bits, unguessable
without both the job's random salt (192 bits) and the key. The database keeps only the
salt and ``SHA-256(token)``, so a leaked database reveals no live link, while the job's
own shop can still be shown its URL at any time. A link is found by hashing what the
client presents and looking the hash up in one indexed query, whatever the token is
(unknown, rotated or expired all take the same path and answer the same 404).
"""

from __future__ import annotations

import hashlib
from base64 import urlsafe_b64encode
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from jobs.models import ActorRole, EventKind, Job, new_tracking_salt
from marketplace.models import User

_HMAC_SALT = "jobs.tracking.token"
TOKEN_BYTES = 24
# Longer strings are never tokens; refusing them early saves hashing huge paths.
TOKEN_MAX_CHARS = 64


def tracking_token_for(*, job_pk: UUID | str, salt: str, secret: str | None = None) -> str:
    """The token for a job id and salt under ``secret`` (default: SECRET_KEY)."""
    digest = salted_hmac(_HMAC_SALT, f"{job_pk}:{salt}", secret=secret, algorithm="sha256").digest()
    return urlsafe_b64encode(digest[:TOKEN_BYTES]).rstrip(b"=").decode()


def tracking_token_hash(token: str) -> str:
    """What the database stores for a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def tracking_hash_for(*, job_pk: UUID | str, salt: str) -> str:
    """The stored hash for a job id and salt (set it when creating a job)."""
    return tracking_token_hash(tracking_token_for(job_pk=job_pk, salt=salt))


def job_tracking_token(job: Job) -> str | None:
    """The job's live token, or None when SECRET_KEY changed past its fallbacks.

    The recipient's link keeps working after a key change (only its hash is checked);
    the shop then rotates to be shown a new one.
    """
    for secret in [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]:
        token = tracking_token_for(job_pk=job.pk, salt=job.tracking_salt, secret=secret)
        if tracking_token_hash(token) == job.tracking_token_hash:
            return token
    return None


def tracking_url(token: str) -> str:
    """The recipient's page for ``token``, on PUBLIC_BASE_URL (never the request's Host)."""
    return f"{settings.PUBLIC_BASE_URL}/t/{token}"


def job_tracking_url(job: Job) -> str | None:
    token = job_tracking_token(job)
    return tracking_url(token) if token else None


def tracking_link_expires_at(job: Job) -> datetime | None:
    """When the link dies: TRACKING_LINK_TTL_HOURS after the job ended (None while active)."""
    if job.ended_at is None:
        return None
    return job.ended_at + timedelta(hours=settings.TRACKING_LINK_TTL_HOURS)


def tracking_link_is_live(job: Job, *, now: datetime | None = None) -> bool:
    expires_at = tracking_link_expires_at(job)
    return expires_at is None or (now or timezone.now()) < expires_at


def job_for_tracking_token(token: str, *, now: datetime | None = None) -> Job | None:
    """The job behind a live token, else None (unknown, rotated and expired alike)."""
    digest = tracking_token_hash(token[:TOKEN_MAX_CHARS])
    job = (
        Job.objects.select_related("shop", "courier__user")
        .filter(tracking_token_hash=digest)
        .first()
    )
    if job is None or len(token) > TOKEN_MAX_CHARS or not tracking_link_is_live(job, now=now):
        return None
    return job


def job_tracking_rotate(*, job: Job, actor: User) -> tuple[Job, str]:
    """Give the job a new tracking token; the old link is dead from this commit on.

    Locks the job row. Records a ``tracking_link_rotated`` event (the shop's socket and
    webhook hear of it) and closes sockets open on the old link. Returns the job and the
    new token.
    """
    from jobs.lifecycle import job_record_event  # lifecycle imports this package's publisher

    with transaction.atomic():
        locked = Job.objects.select_for_update(of=("self",)).select_related("shop").get(pk=job.pk)
        locked.tracking_salt = new_tracking_salt()
        locked.tracking_token_hash = tracking_hash_for(job_pk=locked.pk, salt=locked.tracking_salt)
        locked.save(update_fields=["tracking_salt", "tracking_token_hash", "updated_at"])
        job_record_event(
            job=locked,
            kind=EventKind.TRACKING_ROTATED,
            actor=actor,
            actor_role=ActorRole.SHOP,
        )
    return locked, tracking_token_for(job_pk=locked.pk, salt=locked.tracking_salt)
