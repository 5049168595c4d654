"""A token bucket: the per-socket frame rate limit (settings ``WS_RATE_PER_SECOND``/``_BURST``).

Each socket owns one bucket in its consumer, so the limit needs no shared state: a socket
lives on exactly one process for its whole life.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """``burst`` tokens at most, refilled at ``rate`` per second; each frame takes one."""

    def __init__(
        self, *, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("A token bucket needs rate > 0 and burst >= 1.")
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = burst
        self.updated = clock()

    def take(self) -> bool:
        """Spend one token if there is one; False means the caller is over the limit."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False
