"""Proof images: recognise JPEG, PNG and WebP by their bytes, check the size, store them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from rest_framework import status

from jobs.models import Job, JobPhoto, PhotoKind
from marketplace.api.errors import ApplicationError
from marketplace.models import User

# (content type, test on the first bytes). Only the bytes decide: never the file name
# or the Content-Type the client sent with the part.
_SIGNATURES: tuple[tuple[str, bytes, bytes], ...] = (
    ("image/jpeg", b"\xff\xd8\xff", b""),
    ("image/png", b"\x89PNG\r\n\x1a\n", b""),
    ("image/webp", b"RIFF", b"WEBP"),  # RIFF <4-byte size> WEBP
)
_SNIFF_BYTES = 12


class UnsupportedImage(ApplicationError):
    code = "unsupported_image"
    default_message = "Send a JPEG, PNG or WebP image."


class ImageTooLarge(ApplicationError):
    code = "image_too_large"
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_message = "The image is too large."


@dataclass(frozen=True)
class ProofImage:
    """An upload that passed the checks: its bytes, what they are, and their hash."""

    data: bytes
    content_type: str
    sha256: str

    @property
    def size_bytes(self) -> int:
        return len(self.data)


def image_content_type(head: bytes) -> str | None:
    """The content type the leading bytes prove, or None when they match no accepted format."""
    for content_type, prefix, marker in _SIGNATURES:
        if not head.startswith(prefix):
            continue
        if not marker or head[8:12] == marker:
            return content_type
    return None


def image_read(*, upload: IO[bytes], field: str) -> ProofImage:
    """Read an uploaded file and check it is an accepted image of at most PROOF_PHOTO_MAX_BYTES.

    ``field`` names the form field in the errors. Reads at most one byte past the limit, so
    an oversized file is refused without holding all of it.
    """
    limit = settings.PROOF_PHOTO_MAX_BYTES
    declared = getattr(upload, "size", None)
    if declared is not None and declared > limit:
        raise _too_large(field, limit)
    if hasattr(upload, "seek"):
        upload.seek(0)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise _too_large(field, limit)
    content_type = image_content_type(data[:_SNIFF_BYTES])
    if content_type is None:
        raise UnsupportedImage(
            f"{field}: the file is not a JPEG, PNG or WebP image.",
            fields={field: ["The file is not a JPEG, PNG or WebP image."]},
        )
    return ProofImage(data=data, content_type=content_type, sha256=hashlib.sha256(data).hexdigest())


def _too_large(field: str, limit: int) -> ImageTooLarge:
    message = f"Images may be at most {limit} bytes."
    return ImageTooLarge(f"{field}: {message}", fields={field: [message]})


def job_photo_store(*, job: Job, image: ProofImage, kind: PhotoKind, actor: User) -> JobPhoto:
    """Save a checked image for ``job``. Call in the transaction that records what it proves."""
    return JobPhoto.objects.create(
        job=job,
        kind=kind,
        content_type=image.content_type,
        data=image.data,
        size_bytes=image.size_bytes,
        sha256=image.sha256,
        uploaded_by=actor,
    )
