"""The stand-in's file uploads: multipart as stripe-python sends it, Stripe's limits, evidence."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from payments.gateway import FileResult, GatewayError, IdempotencyMismatch, StripeGateway
from payments.standin import StandinServer
from payments.standin.forms import Upload, decode_multipart
from tests.payments.test_standin import KEY, call, captured_charge, helper

# Every byte value, and the bytes that would end a part if the parser split on lines.
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8 + b"\r\n--\r\n\r\n"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00JFIF" + bytes(range(255, -1, -1)) * 4
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
FIVE_MB = 5 * 1024 * 1024


@pytest.fixture
def gateway(standin: StandinServer) -> StripeGateway:
    return StripeGateway(api_key=KEY, api_base=standin.base_url)


def upload(
    gateway: StripeGateway, content: bytes, name: str = "proof.png", key: str = ""
) -> FileResult:
    return gateway.file_upload(
        purpose="dispute_evidence",
        filename=name,
        content=content,
        idempotency_key=key or f"upload:{uuid.uuid4()}",
    )


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[str, bytes]:
    boundary = uuid.uuid4().hex
    body = b""
    for name, value in fields.items():
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    for name, (filename, content) in files.items():
        body += (
            (
                f"--{boundary}\r\nContent-Disposition: form-data; "
                f'name="{name}"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + content
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


def raw_post(
    standin: StandinServer, path: str, content_type: str, body: bytes
) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        standin.base_url + path,
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": content_type},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_multipart_parts_decode_byte_for_byte() -> None:
    content_type, body = multipart({"purpose": "dispute_evidence"}, {"file": ('a "b".png', PNG)})
    assert decode_multipart(content_type, body) == [
        ("purpose", "dispute_evidence"),
        ("file", Upload(filename='a "b".png', content=PNG)),
    ]


def test_a_cut_multipart_body_is_a_400(standin: StandinServer) -> None:
    content_type, body = multipart({"purpose": "dispute_evidence"}, {"file": ("a.png", PNG)})
    status, answer = raw_post(standin, "/v1/files", content_type, body[:-20])
    assert status == 400
    assert "cut short" in answer["error"]["message"]
    status, answer = raw_post(standin, "/v1/files", "multipart/form-data", body)
    assert (status, answer["error"]["message"]) == (
        400,
        "Invalid multipart/form-data request: no boundary.",
    )
    assert standin.store.objects["file"] == {}


def test_an_upload_through_stripe_python_keeps_the_bytes_and_answers_a_file(
    standin: StandinServer, gateway: StripeGateway
) -> None:
    uploaded = upload(gateway, PNG, "delivery.png")
    assert uploaded.id.startswith("file_")
    assert (uploaded.purpose, uploaded.size, uploaded.type, uploaded.filename) == (
        "dispute_evidence",
        len(PNG),
        "png",
        "delivery.png",
    )
    stored = standin.store.objects["file"][uploaded.id]
    assert hashlib.sha256(stored["_content"]).hexdigest() == hashlib.sha256(PNG).hexdigest()
    status, body, _ = call(standin, "GET", f"/v1/files/{uploaded.id}")
    assert status == 200
    assert body["object"] == "file"
    assert body["url"] == f"{standin.base_url}/v1/files/{uploaded.id}/contents"
    assert body["expires_at"] - body["created"] == 270 * 24 * 3600
    assert "_content" not in body
    assert upload(gateway, JPEG, "d.jpg").type == "jpg"
    assert upload(gateway, PDF, "d.pdf").type == "pdf"
    status, listed, _ = call(standin, "GET", "/v1/files", {"purpose": "dispute_evidence"})
    assert [item["type"] for item in listed["data"]] == ["pdf", "jpg", "png"]


def test_a_retried_upload_with_its_key_makes_no_second_file(
    standin: StandinServer, gateway: StripeGateway
) -> None:
    first = upload(gateway, PNG, key="evidence:1")
    again = upload(gateway, PNG, key="evidence:1")
    assert again.id == first.id
    assert list(standin.store.objects["file"]) == [first.id]
    with pytest.raises(IdempotencyMismatch):
        upload(gateway, PNG + b"\x00", key="evidence:1")
    assert list(standin.store.objects["file"]) == [first.id]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"GIF89a" + b"\x00" * 64, "We don't currently support that file type."),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "We don't currently support that file type."),
        (b"", "The file you uploaded is empty."),
        (b"%PDF-" + b"0" * (FIVE_MB - 4), f"is {FIVE_MB + 1} bytes"),
    ],
    ids=["gif", "webp", "empty", "over-5-MB"],
)
def test_bad_files_are_refused_naming_the_file(
    standin: StandinServer, gateway: StripeGateway, content: bytes, message: str
) -> None:
    with pytest.raises(GatewayError) as refused:
        upload(gateway, content)
    assert (refused.value.http_status, refused.value.param) == (400, "file")
    assert message in refused.value.message
    assert standin.store.objects["file"] == {}


def test_a_file_of_exactly_5_mb_is_taken(standin: StandinServer, gateway: StripeGateway) -> None:
    assert upload(gateway, b"%PDF-" + b"0" * (FIVE_MB - 5)).size == FIVE_MB


def test_an_upload_needs_a_purpose_we_know_and_a_file_part(standin: StandinServer) -> None:
    content_type, body = multipart({"purpose": "identity_document"}, {"file": ("a.png", PNG)})
    status, answer = raw_post(standin, "/v1/files", content_type, body)
    assert (status, answer["error"]["param"]) == (400, "purpose")
    content_type, body = multipart({"purpose": "dispute_evidence"}, {})
    status, answer = raw_post(standin, "/v1/files", content_type, body)
    assert (status, answer["error"]["param"], answer["error"]["code"]) == (
        400,
        "file",
        "parameter_missing",
    )
    status, answer, _ = call(
        standin, "POST", "/v1/files", {"purpose": "dispute_evidence", "file": "text"}
    )
    assert (status, answer["error"]["param"]) == (400, "file")
    assert standin.store.objects["file"] == {}


def test_dispute_evidence_takes_only_uploaded_evidence_files(
    standin: StandinServer, gateway: StripeGateway
) -> None:
    _, charge_id = captured_charge(gateway, 1000, "files")
    dispute = helper(standin, f"/_standin/charges/{charge_id}/dispute", {"reason": "fraudulent"})
    path = f"/v1/disputes/{dispute['id']}"
    status, answer, _ = call(
        standin, "POST", path, {"evidence[shipping_documentation]": "file_missing"}
    )
    assert (status, answer["error"]["param"], answer["error"]["message"]) == (
        400,
        "evidence[shipping_documentation]",
        "No such file upload: 'file_missing'",
    )
    standin.store.add(
        "file", {"id": "file_identity", "purpose": "identity_document", "size": 1, "type": "png"}
    )
    status, answer, _ = call(
        standin, "POST", path, {"evidence[uncategorized_file]": "file_identity"}
    )
    assert (status, answer["error"]["param"]) == (400, "evidence[uncategorized_file]")
    assert "purpose dispute_evidence" in answer["error"]["message"]
    assert standin.store.get("dispute", dispute["id"])["status"] == "needs_response"
    photo = upload(gateway, PNG)
    submitted = gateway.dispute_submit_evidence(
        dispute_id=dispute["id"],
        evidence={"shipping_documentation": photo.id, "uncategorized_text": "delivered"},
        metadata={},
        idempotency_key="files:evidence",
    )
    assert submitted.status == "under_review"
    assert submitted.evidence_files == {"shipping_documentation": photo.id}
    assert standin.store.get("dispute", dispute["id"])["evidence"]["shipping_documentation"] == (
        photo.id
    )
