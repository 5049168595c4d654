"""Where webhooks may go: IPv6 forms that embed IPv4, and connecting only to checked addresses.

Nothing here reaches the internet: names are answered by a stand-in for ``getaddrinfo``,
and the "public" server is a TLS receiver on loopback that the policy is told to trust.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from rest_framework.test import APIClient

from jobs.lifecycle import job_transition
from jobs.models import JobStatus, WebhookDelivery, WebhookStatus
from jobs.webhooks import config as webhook_config
from jobs.webhooks import delivery as webhook_delivery
from jobs.webhooks import webhook_deliver
from jobs.webhooks.config import is_public_address, webhook_target, webhook_url_problem
from marketplace.models import Shop, User
from tests.factories import JobFactory
from tests.jobs.webhook_receiver import WebhookReceiver

URL = "/api/v1/shop/webhook/"
NAME = "hooks.rebind.test"
GOOD = "127.0.0.1"  # stands in for the public address the name has at check time
EVIL = "127.0.0.2"  # what the name is rebound to afterwards


# --- IPv6 forms that embed IPv4 ----------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://[64:ff9b::a9fe:a9fe]/latest/meta-data/",  # NAT64 of 169.254.169.254
        "https://[64:ff9b::7f00:1]/hook",  # NAT64 of 127.0.0.1
        "https://[64:ff9b::a00:1]/hook",  # NAT64 of 10.0.0.1
        "https://[64:ff9b:1::a9fe:a9fe]/hook",  # local-use NAT64 (RFC 8215)
        "https://[::127.0.0.1]/hook",  # IPv4-compatible
        "https://[::a9fe:a9fe]/hook",
        "https://[::ffff:169.254.169.254]/hook",  # IPv4-mapped
        "https://[::ffff:7f00:1]/hook",
        "https://[2002:a9fe:a9fe::1]/hook",  # 6to4 of 169.254.169.254
        "https://[2002:c0a8:1::1]/hook",  # 6to4 of 192.168.0.1
        "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/hook",  # Teredo, client 10.0.0.1
        "https://[2001:0:a00:1:8000:63bf:a247:28f1]/hook",  # Teredo, server 10.0.0.1
        "https://[ff0e::1]/hook",  # global-scope multicast
        "https://0x7f.1/hook",  # 127.0.0.1 in inet_aton's spelling
        "https://2852039166/hook",  # 169.254.169.254 as one number
    ],
)
def test_production_refuses_addresses_that_embed_a_private_ipv4(
    settings: Any, shop_user: User, shop_client: APIClient, url: str
) -> None:
    settings.WEBHOOK_ALLOW_INSECURE_URLS = False

    response = shop_client.put(URL, {"url": url}, format="json")

    assert response.status_code == 400, response.json()
    assert list(response.json()["fields"]) == ["url"]
    assert Shop.objects.get(pk=shop_user.shop_id).webhook_url == ""
    # The policy itself, whatever the URL field thinks of the spelling first.
    assert webhook_url_problem(url) == "Webhook URLs must point to a public address."


@pytest.mark.parametrize(
    "url",
    [
        "https://[64:ff9b::5db8:d70e]/hook",  # NAT64 of 93.184.215.14
        "https://[::ffff:93.184.215.14]/hook",
        "https://[2002:5db8:d70e::1]/hook",  # 6to4 of 93.184.215.14
        "https://[2001:0:4136:e378:8000:63bf:a247:28f1]/hook",  # Teredo, both ends public
        "https://[2606:4700:4700::1111]/hook",  # plain global IPv6
    ],
)
def test_production_accepts_forms_whose_embedded_ipv4_is_public(
    settings: Any, shop_user: User, shop_client: APIClient, url: str
) -> None:
    settings.WEBHOOK_ALLOW_INSECURE_URLS = False

    response = shop_client.put(URL, {"url": url}, format="json")

    assert response.status_code == 200, response.json()
    assert Shop.objects.get(pk=shop_user.shop_id).webhook_url == url


def test_a_name_resolving_to_an_embedded_private_address_is_refused_at_send_time(
    settings: Any,
) -> None:
    settings.WEBHOOK_ALLOW_INSECURE_URLS = False

    def resolver(host: str, port: int) -> list[str]:
        return ["2606:4700:4700::1111", "64:ff9b::a9fe:a9fe"]

    assert webhook_target("https://metadata.example/x", resolver=resolver) == (
        "Webhook URLs must point to a public address."
    )


def test_embedded_addresses_are_judged_by_the_ipv4_inside() -> None:
    cases = {
        "64:ff9b::a9fe:a9fe": False,
        "64:ff9b::5db8:d70e": True,
        "::1": False,
        "::": False,
        "fe80::1": False,
        "fc00::1": False,
        "100.64.0.1": False,
        "93.184.215.14": True,
    }
    assert {a: is_public_address(ipaddress.ip_address(a)) for a in cases} == cases


# --- Connecting to the checked address ----------------------------------------------------


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate for ``name`` (also its own CA) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class ConnectionCounter:
    """A bare TCP listener that only counts the connections it accepts."""

    def __init__(self, host: str, port: int) -> None:
        self.accepted = 0
        self._listener = socket.create_server((host, port))
        self._listener.settimeout(0.1)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.close()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(5)
        self._listener.close()


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``getaddrinfo`` answers NAME with GOOD the first time and EVIL ever after."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != NAME:
            return real(host, port, *args, **kwargs)
        asked.append(host)
        address = GOOD if len(asked) == 1 else EVIL
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    return asked


@pytest.fixture
def production_policy(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """https only and public addresses only, where GOOD is the one "public" address."""
    settings.WEBHOOK_ALLOW_INSECURE_URLS = False
    monkeypatch.setattr(
        webhook_config,
        "is_public_address",
        lambda address: address == ipaddress.ip_address(GOOD),
    )


@pytest.fixture
def tls_receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    """An https receiver on GOOD with a certificate for NAME, which the sender trusts."""
    cert, key = self_signed(tmp_path, NAME)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    monkeypatch.setattr(
        webhook_delivery,
        "tls_context",
        lambda: ssl.create_default_context(cafile=str(cert)),
        raising=False,
    )
    with WebhookReceiver(host=GOOD, tls=server_context) as receiver:
        yield receiver


@pytest.fixture
def evil(tls_receiver: WebhookReceiver) -> Iterator[ConnectionCounter]:
    counter = ConnectionCounter(EVIL, tls_receiver.port)
    yield counter
    counter.stop()


def pending_delivery(shop_user: User, url: str) -> WebhookDelivery:
    Shop.objects.filter(pk=shop_user.shop_id).update(webhook_url=url, webhook_secret="whsec_x")
    job = JobFactory(shop=Shop.objects.get(pk=shop_user.shop_id))
    _, event = job_transition(job=job, to=JobStatus.CANCELLED, actor=None, reason="test")
    return WebhookDelivery.objects.get(event=event)


def test_a_name_rebound_after_the_check_is_not_followed(
    shop_user: User,
    production_policy: None,
    lookups: list[str],
    tls_receiver: WebhookReceiver,
    evil: ConnectionCounter,
) -> None:
    url = f"https://{NAME}:{tls_receiver.port}/hooks/marketplace"
    delivery = pending_delivery(shop_user, url)

    assert webhook_deliver(delivery_pk=delivery.pk) == "delivered"

    assert lookups == [NAME]  # looked up once, for the check
    assert evil.accepted == 0
    [request] = tls_receiver.requests
    assert request.path == "/hooks/marketplace"
    assert request.headers["Host"] == f"{NAME}:{tls_receiver.port}"
    assert tls_receiver.server_names == [NAME]  # SNI carries the name, not the address


def test_the_certificate_is_checked_against_the_name_not_the_address(
    tmp_path: Path,
    shop_user: User,
    production_policy: None,
    lookups: list[str],
    tls_receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other_cert, _ = self_signed(tmp_path, "other.test")
    monkeypatch.setattr(
        webhook_delivery, "tls_context", lambda: ssl.create_default_context(cafile=str(other_cert))
    )
    delivery = pending_delivery(shop_user, f"https://{NAME}:{tls_receiver.port}/hooks/marketplace")

    assert webhook_deliver(delivery_pk=delivery.pk) == "retry"

    attempt = delivery.attempts.get()
    assert attempt.status_code is None
    assert "CERTIFICATE_VERIFY_FAILED" in attempt.error
    assert tls_receiver.requests == []


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(
    shop_user: User, production_policy: None, lookups: list[str], tls_receiver: WebhookReceiver
) -> None:
    tls_receiver.statuses.append(302)
    delivery = pending_delivery(shop_user, f"https://{NAME}:{tls_receiver.port}/hooks/marketplace")

    assert webhook_deliver(delivery_pk=delivery.pk) == "retry"

    assert [a.status_code for a in delivery.attempts.all()] == [302]
    assert len(tls_receiver.requests) == 1
    delivery.refresh_from_db()
    assert delivery.status == WebhookStatus.PENDING


def test_insecure_mode_still_pins_the_address_it_resolved(
    settings: Any, shop_user: User, lookups: list[str]
) -> None:
    settings.WEBHOOK_ALLOW_INSECURE_URLS = True
    with WebhookReceiver(host=GOOD) as receiver:
        counter = ConnectionCounter(EVIL, receiver.port)
        try:
            delivery = pending_delivery(shop_user, f"http://{NAME}:{receiver.port}/in")
            assert webhook_deliver(delivery_pk=delivery.pk) == "delivered"
        finally:
            counter.stop()

    assert lookups == [NAME]
    assert counter.accepted == 0
    assert receiver.requests[0].headers["Host"] == f"{NAME}:{receiver.port}"
