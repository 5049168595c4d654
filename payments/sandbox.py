"""Sandbox money: a sandbox shop's (or robo courier's) money never moves with a live key."""

from __future__ import annotations

from django.conf import settings

from marketplace.api.errors import ConflictError
from payments.gateway import GatewayError

LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")
_HOW = (
    "its money moves only on the Stripe stand-in or in Stripe test mode, and "
    "STRIPE_SECRET_KEY is a live key. Run the sandbox with an sk_test_ key, or with none "
    "(./dev run then starts the stand-in)."
)


class SandboxLiveKeyRefused(ConflictError):
    code = "sandbox_live_key"
    default_message = f"This is a sandbox shop: {_HOW}"


class SandboxLiveKeyCommand(GatewayError):
    """A money command of a sandbox job met a live key: failed, never sent to Stripe."""

    code = "sandbox_live_key"


def is_live_key() -> bool:
    """True when the configured Stripe key moves real money."""
    return (settings.STRIPE_SECRET_KEY or "").startswith(LIVE_KEY_PREFIXES)


def sandbox_money_check(*, is_sandbox: bool, who: str = "sandbox shop") -> None:
    """Refuse (409 ``sandbox_live_key``) before any Stripe call for a sandbox shop or a
    robo courier while the key is live."""
    if is_sandbox and is_live_key():
        raise SandboxLiveKeyRefused(f"This is a {who}: {_HOW}")


def sandbox_command_check(*, is_sandbox: bool, idempotency_key: str) -> None:
    """The same rule for a money command (capture, cancel, transfer) of a sandbox job."""
    if is_sandbox and is_live_key():
        raise SandboxLiveKeyCommand(
            f"Refused {idempotency_key}: the job is a sandbox shop's; {_HOW}"
        )
