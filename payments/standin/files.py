"""The stand-in's file uploads (``POST /v1/files``, multipart) and file objects."""

from __future__ import annotations

from typing import Any

from payments.standin.forms import Call, Params, StripeFailure, Upload
from payments.standin.store import Store, new_id

# Stripe's file upload guide: what each purpose accepts, and how long the file lives.
# Only dispute evidence is uploaded by us; the other purposes are refused as unsupported.
DISPUTE_EVIDENCE = "dispute_evidence"
PURPOSE_RULES: dict[str, dict[str, Any]] = {
    DISPUTE_EVIDENCE: {
        "types": ("pdf", "jpg", "png"),
        "max_bytes": 5 * 1024 * 1024,
        "lifetime_seconds": 9 * 30 * 24 * 3600,  # nine months
    },
}
# Stripe decides a file's type from its bytes (stripe-python sends every file part as
# application/octet-stream).
_SIGNATURES = (
    (b"%PDF-", "pdf"),
    (b"\xff\xd8\xff", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
)
MIMETYPES = {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png"}


def file_type(content: bytes) -> str | None:
    for prefix, kind in _SIGNATURES:
        if content.startswith(prefix):
            return kind
    return None


def file_create(store: Store, call: Call) -> dict[str, Any]:
    p = Params(call.params.data, allowed={"purpose", "file", "file_link_data"})
    purpose = p.str("purpose", required=True) or ""
    rules = PURPOSE_RULES.get(purpose)
    if rules is None:
        raise StripeFailure(
            400,
            f"Invalid purpose: {purpose}. The stand-in takes files for: "
            + ", ".join(sorted(PURPOSE_RULES)),
            code="parameter_invalid",
            param="purpose",
        )
    upload: Upload = p.upload("file")
    if not upload.content:
        raise StripeFailure(400, "The file you uploaded is empty.", param="file")
    kind = file_type(upload.content)
    if kind not in rules["types"]:
        raise StripeFailure(
            400,
            "We don't currently support that file type. Try uploading a file with one of the "
            "following mimetypes: " + ", ".join(MIMETYPES[t] for t in rules["types"]),
            param="file",
        )
    size = len(upload.content)
    if size > rules["max_bytes"]:
        raise StripeFailure(
            400,
            f"The file you uploaded is {size} bytes; files for {purpose} may be at most "
            f"{rules['max_bytes']} bytes (5 MB).",
            param="file",
        )
    file_id = new_id("file_")
    now = store.now()
    return store.add(
        "file",
        {
            "id": file_id,
            "expires_at": now + rules["lifetime_seconds"],
            "filename": upload.filename,
            "links": {
                "object": "list",
                "data": [],
                "has_more": False,
                "url": f"/v1/file_links?file={file_id}",
            },
            "purpose": purpose,
            "size": size,
            "title": None,
            "type": kind,
            "url": f"{call.base_url}/v1/files/{file_id}/contents",
            "_content": upload.content,
        },
        account=call.account,
    )


def file_retrieve(store: Store, call: Call) -> dict[str, Any]:
    return store.get("file", call.args[0])


def file_list(store: Store, call: Call) -> dict[str, Any]:
    purpose = call.params.str("purpose")
    return store.list_answer(
        "file",
        call.params,
        url="/v1/files",
        where=lambda item: purpose is None or item["purpose"] == purpose,
        account=call.account,
    )


def evidence_file(
    store: Store, file_id: str, *, param: str, account: str | None = None
) -> dict[str, Any]:
    """The file a dispute's evidence field names: it must exist on the dispute's account and
    have been uploaded as dispute evidence."""
    found = store.objects["file"].get(file_id)
    if found is None or found["_account"] != account:
        raise StripeFailure(
            400, f"No such file upload: '{file_id}'", code="resource_missing", param=param
        )
    if found["purpose"] != DISPUTE_EVIDENCE:
        raise StripeFailure(
            400,
            f"The file {file_id} was uploaded with purpose {found['purpose']}; dispute evidence "
            f"takes only files uploaded with purpose {DISPUTE_EVIDENCE}.",
            code="parameter_invalid",
            param=param,
        )
    return found
