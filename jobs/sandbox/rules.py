"""Who may use the sandbox: test_specifications are for sandbox shops only."""

from __future__ import annotations

from typing import Any

from marketplace.api.errors import ApplicationError
from marketplace.models import Shop


class SandboxOnly(ApplicationError):
    code = "test_specifications_sandbox_only"
    default_message = "test_specifications: only a sandbox shop's jobs may carry them."

    def __init__(self) -> None:
        super().__init__(
            fields={"test_specifications": ["Only sandbox shops may send test_specifications."]}
        )


def test_specifications_allowed(*, shop: Shop, test_specifications: dict[str, Any] | None) -> None:
    """Refuse ``test_specifications`` from a shop that is not a sandbox shop (400)."""
    if test_specifications is not None and not shop.is_sandbox:
        raise SandboxOnly()
