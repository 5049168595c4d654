"""Proof images: recognised by their bytes only, size-limited, and let through the body limit."""

from __future__ import annotations

import http.client
import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from pytest_django.fixtures import Settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from couriers.models import Courier
from jobs.models import DeliveryOption, JobEvent, JobPhoto, JobStatus, ProofOfDelivery
from jobs.photos import ImageTooLarge, UnsupportedImage, image_content_type, image_read
from marketplace.asgi_limits import MULTIPART_OVERHEAD_BYTES, BodySizeLimit
from tests.e2e_server import ServerInfo, running_server
from tests.factories import CourierFactory
from tests.jobs.test_courier_steps import DROPOFF, PICKUP, job_in, snapshot, step_url

S = JobStatus
MiB = 1024 * 1024

PNG_HEAD = b"\x89PNG\r\n\x1a\n"
JPEG_HEAD = b"\xff\xd8\xff\xdb"
WEBP_HEAD = b"RIFF\x24\x00\x00\x00WEBPVP8 "


def image(head: bytes, size: int) -> bytes:
    return head + b"\x07" * (size - len(head))


def upload(name: str, data: bytes, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


# --- Sniffing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (JPEG_HEAD, "image/jpeg"),
        (b"\xff\xd8\xff\xe1\x00\x00Exif", "image/jpeg"),
        (PNG_HEAD + b"\x00\x00\x00\rIHDR", "image/png"),
        (WEBP_HEAD, "image/webp"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),  # a RIFF file, but audio
        (b"RIFF", None),
        (b"GIF89a\x01\x00\x01\x00", None),
        (b"\x89PNG\r\n\x1a", None),  # one byte short
        (b"\xff\xd8", None),
        (b"%PDF-1.7", None),
        (b"<svg xmlns=", None),
        (b"", None),
    ],
)
def test_content_type_comes_from_the_leading_bytes(head: bytes, expected: str | None) -> None:
    assert image_content_type(head) == expected


def test_image_read_accepts_exactly_the_limit_and_refuses_one_byte_more(
    settings: Settings,
) -> None:
    settings.PROOF_PHOTO_MAX_BYTES = 1000
    at_limit = image_read(upload=io.BytesIO(image(PNG_HEAD, 1000)), field="photo")
    assert (at_limit.content_type, at_limit.size_bytes) == ("image/png", 1000)
    with pytest.raises(ImageTooLarge) as refused:
        # A stream without a declared size: read, and refused one byte past the limit.
        image_read(upload=io.BytesIO(image(PNG_HEAD, 1001)), field="photo")
    assert refused.value.fields == {"photo": ["Images may be at most 1000 bytes."]}
    with pytest.raises(UnsupportedImage):
        image_read(upload=io.BytesIO(b"hello"), field="signature")


# --- Through the API ---------------------------------------------------------------------


def deliver_multipart(
    client: APIClient, job: Any, files: dict[str, SimpleUploadedFile], **fields: str
) -> Any:
    body = {"position": json.dumps(DROPOFF), **fields, **files}
    return client.post(step_url(job, "deliver"), body, format="multipart")


def door_job(courier: Courier) -> Any:
    return job_in(S.AT_DROPOFF, courier=courier, delivery_option=DeliveryOption.LEAVE_AT_DOOR)


def test_png_renamed_jpg_with_a_jpeg_content_type_is_stored_as_png(
    courier: Courier, courier_client: APIClient
) -> None:
    job = door_job(courier)
    answer = deliver_multipart(
        courier_client, job, {"photo": upload("door.jpg", image(PNG_HEAD, 2048), "image/jpeg")}
    )
    assert answer.status_code == 200, answer.json()
    photo = JobPhoto.objects.get(job=job)
    assert (photo.content_type, photo.size_bytes, photo.kind) == ("image/png", 2048, "delivery")


@pytest.mark.parametrize(
    ("field", "data", "name", "claimed"),
    [
        ("photo", b"just some text, honestly\n" * 10, "door.jpg", "image/jpeg"),
        ("photo", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "door.png", "image/png"),
        ("photo", b"GIF89a" + b"\x00" * 100, "door.webp", "image/webp"),
        ("signature", b"%PDF-1.7\n" + b"\x00" * 100, "sig.png", "image/png"),
    ],
)
def test_files_that_are_not_jpeg_png_or_webp_are_refused_whatever_their_name(
    courier: Courier,
    courier_client: APIClient,
    field: str,
    data: bytes,
    name: str,
    claimed: str,
) -> None:
    job = door_job(courier)
    files = {"photo": upload("ok.png", image(PNG_HEAD, 512)), field: upload(name, data, claimed)}
    before = snapshot(job)
    answer = deliver_multipart(courier_client, job, files)
    assert answer.status_code == 400
    assert answer.json()["code"] == "unsupported_image"
    assert answer.json()["fields"] == {field: ["The file is not a JPEG, PNG or WebP image."]}
    assert snapshot(job) == before


def test_an_empty_file_is_refused(courier: Courier, courier_client: APIClient) -> None:
    job = door_job(courier)
    before = snapshot(job)
    answer = deliver_multipart(courier_client, job, {"photo": upload("door.jpg", b"")})
    assert answer.status_code == 400
    assert list(answer.json()["fields"]) == ["photo"]
    assert snapshot(job) == before


def test_a_photo_over_the_limit_is_413_and_one_at_the_limit_is_stored(
    courier: Courier, courier_client: APIClient
) -> None:
    limit = settings.PROOF_PHOTO_MAX_BYTES
    assert limit == 5 * MiB
    job = door_job(courier)
    before = snapshot(job)
    answer = deliver_multipart(
        courier_client, job, {"photo": upload("big.jpg", image(JPEG_HEAD, limit + 1))}
    )
    assert answer.status_code == 413
    assert answer.json()["code"] == "image_too_large"
    assert answer.json()["fields"] == {"photo": [f"Images may be at most {limit} bytes."]}
    assert snapshot(job) == before

    answer = deliver_multipart(
        courier_client, job, {"photo": upload("big.jpg", image(JPEG_HEAD, limit))}
    )
    assert answer.status_code == 200, answer.json()
    assert JobPhoto.objects.get(job=job).size_bytes == limit


def test_pickup_photo_is_webp_and_named_in_the_event(
    courier: Courier, courier_client: APIClient
) -> None:
    job = job_in(S.AT_PICKUP, courier=courier)
    answer = courier_client.post(
        step_url(job, "pickup"),
        {
            "position": json.dumps(PICKUP),
            "photo": upload("parcel", image(WEBP_HEAD, 900), "application/octet-stream"),
            "barcode": "PKG-9",
        },
        format="multipart",
    )
    assert answer.status_code == 200, answer.json()
    photo = JobPhoto.objects.get(job=job)
    assert (photo.kind, photo.content_type, photo.uploaded_by_id) == (
        "pickup",
        "image/webp",
        courier.user_id,
    )
    event = JobEvent.objects.get(job=job, to_status="picked_up")
    assert event.data == {"distance_to_pickup_m": 0, "photo_id": str(photo.pk), "barcode": "PKG-9"}


# --- The ASGI body limit -----------------------------------------------------------------


def test_only_the_two_image_steps_get_the_larger_body_allowance() -> None:
    limiter = BodySizeLimit(app=None, max_bytes=MiB)  # type: ignore[arg-type]
    allowance = 2 * settings.PROOF_PHOTO_MAX_BYTES + MULTIPART_OVERHEAD_BYTES
    job = uuid.uuid4()
    assert limiter.limit_for(f"/api/v1/courier/jobs/{job}/deliver/") == allowance
    assert limiter.limit_for(f"/api/v1/courier/jobs/{job}/pickup/") == allowance
    for path in (
        f"/api/v1/courier/jobs/{job}/arrive-dropoff/",
        f"/api/v1/courier/jobs/{job}/deliver/extra/",
        f"/api/v1/courier/jobs/{job}/deliver",
        f"/x/api/v1/courier/jobs/{job}/deliver/",
        "/api/v1/courier/jobs/not-a-job-id-but-thirty-six-chars!!/deliver/",
        "/api/v1/jobs/",
        "/api/v1/auth/register/shop/",
    ):
        assert limiter.limit_for(path) == MiB, path
    # A global limit above the allowance is never lowered for upload routes.
    assert (
        BodySizeLimit(app=None, max_bytes=50 * MiB).limit_for(  # type: ignore[arg-type]
            f"/api/v1/courier/jobs/{job}/deliver/"
        )
        == 50 * MiB
    )


@pytest.fixture(scope="module")
def server(django_db_setup: None) -> Iterator[ServerInfo]:
    """uvicorn with the real 1 MiB global body limit."""
    with running_server(database=settings.DATABASES["default"], max_body_bytes=MiB) as info:
        yield info


def multipart(
    fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]
) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    for name, (filename, data, content_type) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def send(
    server: ServerInfo,
    path: str,
    body: bytes,
    content_type: str,
    token: str,
    *,
    chunked: bool = False,
) -> tuple[int, Any]:
    """POST ``body`` with a Content-Length header, or chunked with none."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    headers = {"Content-Type": content_type, "Authorization": f"Token {token}"}
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
    try:
        conn.request(
            "POST",
            path,
            body=iter([body]) if chunked else body,
            headers=headers,
            encode_chunked=chunked,
        )
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.e2e
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_photo_above_the_global_limit_reaches_deliver_but_not_other_routes(
    server: ServerInfo, transactional_db: None, chunked: bool
) -> None:
    courier = CourierFactory()
    token = Token.objects.get(user=courier.user).key
    job = job_in(S.AT_DROPOFF, courier=courier, delivery_option=DeliveryOption.LEAVE_AT_DOOR)
    photo = image(PNG_HEAD, 3 * MiB // 2)

    # The same 1.5 MiB body on a route without the allowance: the global 1 MiB limit.
    body, content_type = multipart(
        {"position": json.dumps(DROPOFF)}, {"photo": ("door.jpg", photo, "image/jpeg")}
    )
    assert len(body) > MiB
    other = send(
        server, step_url(job, "arrive-dropoff"), body, content_type, token, chunked=chunked
    )
    assert other == (
        413,
        {
            "code": "request_too_large",
            "message": f"The request body is larger than {MiB} bytes.",
            "fields": {},
        },
    )

    status, reply = send(
        server, step_url(job, "deliver"), body, content_type, token, chunked=chunked
    )
    assert status == 200, reply
    assert reply["status"] == "delivered"
    proof = ProofOfDelivery.objects.select_related("photo").get(job=job)
    assert (proof.photo.content_type, proof.photo.size_bytes) == ("image/png", len(photo))
    assert bytes(proof.photo.data) == photo


@pytest.mark.e2e
def test_a_body_above_the_upload_allowance_is_refused_before_it_is_read(
    server: ServerInfo, transactional_db: None
) -> None:
    courier = CourierFactory()
    token = Token.objects.get(user=courier.user).key
    job = job_in(S.AT_DROPOFF, courier=courier, delivery_option=DeliveryOption.LEAVE_AT_DOOR)
    allowance = 2 * settings.PROOF_PHOTO_MAX_BYTES + MULTIPART_OVERHEAD_BYTES
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.putrequest("POST", step_url(job, "deliver"))
        conn.putheader("Content-Type", "multipart/form-data; boundary=x")
        conn.putheader("Authorization", f"Token {token}")
        conn.putheader("Content-Length", str(allowance + 1))
        conn.endheaders()
        response = conn.getresponse()
        status, reply = response.status, json.loads(response.read())
    finally:
        conn.close()
    assert (status, reply["code"]) == (413, "request_too_large")
    assert reply["message"] == f"The request body is larger than {allowance} bytes."
    job.refresh_from_db()
    assert job.status == S.AT_DROPOFF
