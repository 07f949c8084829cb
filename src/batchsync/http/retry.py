"""When to try a failed request again, and how long to wait first.

A pure policy: given the attempt number and the error, it answers "wait this many seconds" or "give up".
The client owns the loop and the clock, so tests can check every decision without sleeping.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from batchsync.errors import TransientHttpError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter; an API's `Retry-After` comes first, capped by max_backoff."""

    max_attempts: int = 6
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 60.0
    retry_on_status: frozenset[int] = frozenset({429, 500, 502, 503, 504})
    random_fraction: random.Random = field(default_factory=random.Random, compare=False)

    def should_retry_status(self, status: int) -> bool:
        return status in self.retry_on_status

    def wait_seconds(self, attempt: int, error: TransientHttpError) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None when the attempts are used up.

        `attempt` counts from 1 (the first try).
        """
        if attempt >= self.max_attempts:
            return None
        if error.retry_after_seconds is not None:
            return min(max(error.retry_after_seconds, 0.0), self.max_backoff_seconds)
        ceiling = min(self.backoff_seconds * 2.0 ** (attempt - 1), self.max_backoff_seconds)
        # Full jitter keeps many clients that failed together from retrying together.
        return ceiling * (0.5 + 0.5 * self.random_fraction.random())
