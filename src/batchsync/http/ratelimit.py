"""Client-side rate limiting: a schedule shared by every request of a pipeline, that slows down after a
429 and recovers, and pauses when the API's own quota headers say the quota is spent.

Requests are spaced at least `1 / rate` seconds apart (a token bucket holding one token), so however many
threads fetch, the configured rate is never exceeded, not even for a burst. Time comes from an injected
clock and sleep, so tests check every decision without waiting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from batchsync.errors import QuotaExhaustedError

log = logging.getLogger("batchsync.ratelimit")

_EPOCH_THRESHOLD = 1_000_000_000  # a reset value this large is a Unix time (GitHub), not a delay
_SLOWDOWN_FACTOR = 0.5
_RECOVERY_FACTOR = 1.25
_RECOVER_AFTER_SUCCESSES = 10
_SLOWEST_FRACTION = 1 / 16


class RateLimiter:
    """Decides when the next request may go. `acquire` blocks until then; `observe` learns from answers."""

    def __init__(
        self,
        requests_per_second: float | None = None,
        *,
        max_wait_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._configured_rate = requests_per_second
        self._rate = requests_per_second
        self._max_wait = max_wait_seconds
        self._clock = clock
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._successes = 0

    @property
    def current_rate(self) -> float | None:
        """Requests per second allowed right now (lower than configured after a 429), None if unlimited."""
        return self._rate

    def acquire(self) -> None:
        """Wait for the request's turn. Raises QuotaExhaustedError when that is beyond max_wait_seconds."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next_slot, self._paused_until)
            wait = start - now
            quota_wait = self._paused_until - now  # our own pacing is never a reason to give up
            if quota_wait > self._max_wait:
                resume_at = self._wall_clock() + timedelta(seconds=quota_wait)
                raise QuotaExhaustedError(
                    f"the API's quota is spent until {resume_at:%Y-%m-%d %H:%M:%S} UTC "
                    f"({quota_wait:.0f}s, more than max_backoff {self._max_wait:.0f}s); "
                    "the checkpoint is saved: run again after that time",
                    resume_at=resume_at,
                )
            if self._rate is not None:
                self._next_slot = start + 1.0 / self._rate
        if wait > 0:
            self._sleep(wait)

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """Learn from an answer: slow down after a 429, recover after successes, obey quota headers."""
        with self._lock:
            if status == 429:
                self._successes = 0
                if self._rate is not None and self._configured_rate is not None:
                    slowest = self._configured_rate * _SLOWEST_FRACTION
                    self._rate = max(self._rate * _SLOWDOWN_FACTOR, slowest)
                    log.warning("429 received: slowing down to %.2f requests/s", self._rate)
            elif status < 400:
                self._successes += 1
                if (
                    self._rate is not None
                    and self._configured_rate is not None
                    and self._rate < self._configured_rate
                    and self._successes >= _RECOVER_AFTER_SUCCESSES
                ):
                    self._rate = min(self._rate * _RECOVERY_FACTOR, self._configured_rate)
                    self._successes = 0
            self._pause_for_quota(headers)

    def _pause_for_quota(self, headers: Mapping[str, str]) -> None:
        remaining = _first_number(headers, ("ratelimit-remaining", "x-ratelimit-remaining"))
        if remaining is None or remaining > 0:
            return
        reset = _first_number(headers, ("ratelimit-reset", "x-ratelimit-reset"))
        if reset is None:
            return
        delay = reset - self._wall_clock().timestamp() if reset > _EPOCH_THRESHOLD else reset
        resume = self._clock() + max(delay, 0.0)
        if resume > self._paused_until:
            log.warning("the API's quota is spent: pausing %.1fs until it resets", max(delay, 0.0))
            self._paused_until = resume


def _first_number(headers: Mapping[str, str], names: tuple[str, ...]) -> float | None:
    lowered = {name.lower(): value for name, value in headers.items()}
    for name in names:
        value = lowered.get(name)
        if value is None:
            continue
        try:
            # IETF drafts allow a list ("100, 100;w=60"); the first item is the one that applies.
            return float(value.split(",")[0].split(";")[0].strip())
        except ValueError:
            continue
    return None
