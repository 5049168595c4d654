"""A chargeback's evidence files: the delivery photo and the signature go to Stripe as files
once each (a retried command uploads nothing again), and the evidence names them."""

from __future__ import annotations

import hashlib

import pytest
import requests

from jobs.models import Job, JobPhoto, PhotoKind, ProofOfDelivery
from payments.disputes.services import chargeback_sync, dispute_submit_evidence
from payments.disputes.services.chargebacks import chargeback_evidence_send
from payments.gateway import DisputeResult, get_gateway
from payments.models import JobPayment, MoneyCommand
from payments.outbox import command_run
from payments.standin import StandinServer
from tests.concurrency import race
from tests.payments.disputes.conftest import delivered_and_paid, staff_in
from tests.payments.helpers import drain, standin_objects

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 16
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(255, -1, -1)) * 8
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 64


def with_proof(job: Job, *, photo: tuple[str, bytes], signature: tuple[str, bytes] | None):
    """Store the courier's proof images on ``job`` as the deliver step does."""

    def stored(kind: PhotoKind, content_type: str, data: bytes) -> JobPhoto:
        return JobPhoto.objects.create(
            job=job,
            kind=kind,
            content_type=content_type,
            data=data,
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )

    ProofOfDelivery.objects.update_or_create(
        job=job,
        defaults={
            "photo": stored(PhotoKind.DELIVERY, *photo),
            "signature": stored(PhotoKind.SIGNATURE, *signature) if signature else None,
        },
    )


def chargeback(standin: StandinServer, job: Job):
    payment = JobPayment.objects.get(job_id=job.pk)
    response = requests.post(
        f"{standin.base_url}/_standin/charges/{payment.charge_id}/dispute",
        json={"reason": "product_not_received"},
        timeout=5,
    )
    response.raise_for_status()
    return chargeback_sync(stripe_dispute_id=response.json()["id"])


def fault(standin: StandinServer, path: str) -> None:
    body = {"path": path, "status": 500, "count": 1}
    requests.post(f"{standin.base_url}/_standin/faults", json=body, timeout=5).raise_for_status()


def test_the_photo_and_signature_go_as_files_named_in_the_evidence(standin, zone) -> None:
    job, _, _ = delivered_and_paid(standin, tip_minor=0, payouts=False)
    with_proof(job, photo=("image/png", PNG), signature=("image/jpeg", JPEG))
    dispute = chargeback(standin, job)

    action = dispute_submit_evidence(
        dispute=dispute, actor=staff_in("finance"), idempotency_key="e"
    )
    assert f"shipping_documentation: file delivery-photo-{job.pk}.png" in action.note
    assert f"uncategorized_file: file signature-{job.pk}.jpg" in action.note
    drain()

    files = {f["filename"]: f for f in standin_objects(standin, "file")}
    assert sorted(files) == [f"delivery-photo-{job.pk}.png", f"signature-{job.pk}.jpg"]
    photo, signature = files[f"delivery-photo-{job.pk}.png"], files[f"signature-{job.pk}.jpg"]
    assert (photo["purpose"], photo["type"], photo["size"]) == ("dispute_evidence", "png", len(PNG))
    assert (signature["type"], signature["size"]) == ("jpg", len(JPEG))
    assert standin.store.objects["file"][photo["id"]]["_content"] == PNG
    assert standin.store.objects["file"][signature["id"]]["_content"] == JPEG
    (at_stripe,) = standin_objects(standin, "dispute")
    assert at_stripe["status"] == "under_review"
    assert at_stripe["evidence"]["shipping_documentation"] == photo["id"]
    assert at_stripe["evidence"]["uncategorized_file"] == signature["id"]
    assert "delivery photo taken" in at_stripe["evidence"]["uncategorized_text"]
    command = MoneyCommand.objects.get(kind="dispute_evidence")
    assert (command.state, command.params["uploaded_files"], command.params["refused_files"]) == (
        "succeeded",
        {"shipping_documentation": photo["id"], "uncategorized_file": signature["id"]},
        {},
    )
    assert command.result["evidence_files"] == {
        "shipping_documentation": photo["id"],
        "uncategorized_file": signature["id"],
    }
    dispute.refresh_from_db()
    assert dispute.stripe_status == "under_review"


def test_a_retried_command_sends_the_files_it_uploaded_and_uploads_nothing_again(
    standin, zone
) -> None:
    job, _, _ = delivered_and_paid(standin, tip_minor=0, payouts=False)
    with_proof(job, photo=("image/png", PNG), signature=("image/jpeg", JPEG))
    dispute = chargeback(standin, job)
    fault(standin, f"/v1/disputes/{dispute.stripe_dispute_id}")
    dispute_submit_evidence(dispute=dispute, actor=staff_in("finance"), idempotency_key="e")
    command = MoneyCommand.objects.get(kind="dispute_evidence")

    assert command_run(pk=command.pk) == "pending"  # the uploads went, the evidence did not
    uploaded = {f["id"] for f in standin_objects(standin, "file")}
    assert len(uploaded) == 2
    command.refresh_from_db()
    assert set(command.params["uploaded_files"].values()) == uploaded
    (at_stripe,) = standin_objects(standin, "dispute")
    assert (at_stripe["status"], at_stripe["evidence"]["shipping_documentation"]) == (
        "needs_response",
        None,
    )
    # Even once Stripe has forgotten the upload keys, the kept ids are what goes.
    standin.store.idempotency.clear()
    MoneyCommand.objects.filter(pk=command.pk).update(next_attempt_at=command.created_at)
    assert command_run(pk=command.pk) == "succeeded"

    assert {f["id"] for f in standin_objects(standin, "file")} == uploaded
    (at_stripe,) = standin_objects(standin, "dispute")
    assert at_stripe["status"] == "under_review"
    assert {
        at_stripe["evidence"]["shipping_documentation"],
        at_stripe["evidence"]["uncategorized_file"],
    } == uploaded


def test_a_webp_photo_stays_out_and_the_rest_of_the_evidence_goes(standin, zone) -> None:
    job, _, _ = delivered_and_paid(standin, tip_minor=0, payouts=False)
    with_proof(job, photo=("image/webp", WEBP), signature=None)
    dispute = chargeback(standin, job)

    action = dispute_submit_evidence(
        dispute=dispute, actor=staff_in("finance"), idempotency_key="e"
    )
    assert "delivery-photo not sent: Stripe takes no image/webp files" in action.note
    drain()
    assert standin_objects(standin, "file") == []
    (at_stripe,) = standin_objects(standin, "dispute")
    assert at_stripe["status"] == "under_review"
    assert at_stripe["evidence"]["shipping_documentation"] is None
    assert "delivery photo taken" in at_stripe["evidence"]["uncategorized_text"]


def test_a_file_stripe_refuses_is_kept_with_its_reason_and_the_evidence_still_goes(
    standin, zone
) -> None:
    job, _, _ = delivered_and_paid(standin, tip_minor=0, payouts=False)
    # Stored as a PNG, but its bytes are not one: Stripe reads the type from the bytes.
    with_proof(job, photo=("image/png", b"not an image at all"), signature=("image/png", PNG))
    dispute = chargeback(standin, job)

    dispute_submit_evidence(dispute=dispute, actor=staff_in("finance"), idempotency_key="e")
    drain()
    (signature,) = standin_objects(standin, "file")
    command = MoneyCommand.objects.get(kind="dispute_evidence")
    assert command.state == "succeeded"
    assert command.params["uploaded_files"] == {"uncategorized_file": signature["id"]}
    assert list(command.params["refused_files"]) == ["shipping_documentation"]
    assert (
        "We don't currently support that file type"
        in (command.params["refused_files"]["shipping_documentation"])
    )
    (at_stripe,) = standin_objects(standin, "dispute")
    assert at_stripe["status"] == "under_review"
    assert (
        at_stripe["evidence"]["shipping_documentation"],
        at_stripe["evidence"]["uncategorized_file"],
    ) == (
        None,
        signature["id"],
    )


@pytest.mark.django_db(transaction=True)
def test_two_runs_of_one_evidence_command_at_once_upload_each_file_once(standin, zone) -> None:
    """As when the sweeper hands a stale command to a second worker while the first is
    still uploading: Stripe's idempotency keys make the second run the same requests."""
    job, _, _ = delivered_and_paid(standin, tip_minor=0, payouts=False)
    with_proof(job, photo=("image/png", PNG), signature=("image/jpeg", JPEG))
    dispute = chargeback(standin, job)
    dispute_submit_evidence(dispute=dispute, actor=staff_in("finance"), idempotency_key="e")
    pk = MoneyCommand.objects.get(kind="dispute_evidence").pk

    def send() -> DisputeResult:
        command = MoneyCommand.objects.get(pk=pk)
        return chargeback_evidence_send(command=command, gateway=get_gateway())

    first, second = race(send, send)

    assert not isinstance(first, Exception), first
    assert not isinstance(second, Exception), second
    assert (first.status, first.submission_count) == ("under_review", 1)
    assert second == first
    files = standin_objects(standin, "file")
    assert sorted(f["filename"] for f in files) == [
        f"delivery-photo-{job.pk}.png",
        f"signature-{job.pk}.jpg",
    ]
    assert set(first.evidence_files.values()) == {f["id"] for f in files}
    (at_stripe,) = standin_objects(standin, "dispute")
    assert at_stripe["evidence_details"]["submission_count"] == 1
