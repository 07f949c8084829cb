"""Client-side rate limiting: a schedule shared by every request of a pipeline, that slows down after a
429 and recovers, and pauses when the API says to wait: a 429's or a 503's `Retry-After`, or quota
headers saying the quota is spent.

Requests are spaced at least `1 / rate` seconds apart (a token bucket holding one token), so however many
threads fetch, the configured rate is never exceeded, not even for a burst. One limiter serves a whole
pipeline run (a fan-out's listing and all its children included; see `wiring.rate_limiter_for`), so a
pause one thread learns of holds every thread: the ones waiting for their turn already as well. Time comes
from an injected clock and sleep, so tests check every decision without waiting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from batchsync.errors import QuotaExhaustedError
from batchsync.http.retryafter import retry_after_seconds

log = logging.getLogger("batchsync.ratelimit")

_EPOCH_THRESHOLD = 1_000_000_000  # a reset value this large is a Unix time (GitHub), not a delay
_SLOWDOWN_FACTOR = 0.5
_RECOVERY_FACTOR = 1.25
_RECOVER_AFTER_SUCCESSES = 10
_SLOWEST_FRACTION = 1 / 16
_RETRY_AFTER_STATUSES = frozenset({429, 503})


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
        """Wait for the request's turn. Raises QuotaExhaustedError when that is beyond max_wait_seconds.

        A pause that begins while a thread waits for its turn (another thread got a 429, or read a spent
        quota) holds that thread too: once awake it takes a new turn after the pause."""
        while True:
            wait = self._reserve()
            if wait <= 0:
                return
            self._sleep(wait)
            with self._lock:
                if not self._is_paused():
                    return

    def _reserve(self) -> float:
        """Take the next turn; the seconds until it comes."""
        with self._lock:
            interval = 1.0 / self._rate if self._rate is not None else 0.0
            wait, quota_wait = self._take_turn(interval)  # our own pacing is never a reason to give up
            if quota_wait > self._max_wait:
                resume_at = self._wall_clock() + timedelta(seconds=quota_wait)
                raise QuotaExhaustedError(
                    f"the API's quota is spent until {resume_at:%Y-%m-%d %H:%M:%S} UTC "
                    f"({quota_wait:.0f}s, more than max_backoff {self._max_wait:.0f}s); "
                    "the checkpoint is saved: run again after that time",
                    resume_at=resume_at,
                )
            return wait

    # The schedule itself: the next free turn and the pause. Kept in this process here; a subclass keeps
    # it where several processes share it (distributed/ratelimit.py). Called with `_lock` held.

    def _take_turn(self, interval: float) -> tuple[float, float]:
        """Take the next turn, `interval` seconds before the one after it (0: unpaced); the seconds
        until the turn comes, and until a pause ends (negative when none is on)."""
        now = self._clock()
        start = max(now, self._next_slot, self._paused_until)
        if interval > 0:
            self._next_slot = start + interval
        return start - now, self._paused_until - now

    def _extend_pause(self, delay: float) -> bool:
        """Pause every request until `delay` seconds from now, unless a longer pause is on; whether it
        was extended."""
        resume = self._clock() + delay
        if resume <= self._paused_until:
            return False
        self._paused_until = resume
        return True

    def _is_paused(self) -> bool:
        return self._paused_until > self._clock()

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """Learn from an answer: slow down after a 429, recover after successes, and pause every request
        for a 429's or 503's `Retry-After` and for a spent quota."""
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
            if status in _RETRY_AFTER_STATUSES:
                self._pause_for_retry_after(status, headers)
            self._pause_for_quota(headers)

    def _pause_for_retry_after(self, status: int, headers: Mapping[str, str]) -> None:
        """A 429's `Retry-After` is the API's word on when requests are welcome again: every thread waits
        for it (a wait beyond max_wait_seconds stops them, as for a spent quota). A 503's is a hint about
        an outage; its wait is capped at max_wait_seconds, as the retry of the request that got it is."""
        delay = retry_after_seconds(headers, self._wall_clock())
        if not delay:
            return
        if status != 429:
            delay = min(delay, self._max_wait)
        self._pause(delay, f"{status} with Retry-After: pausing every request %.1fs")

    def _pause(self, delay: float, message: str) -> None:
        """Hold every request until `delay` seconds from now, unless a longer pause is on already."""
        if self._extend_pause(max(delay, 0.0)):
            log.warning(message, max(delay, 0.0))

    def _pause_for_quota(self, headers: Mapping[str, str]) -> None:
        remaining = _first_number(headers, ("ratelimit-remaining", "x-ratelimit-remaining"))
        if remaining is None or remaining > 0:
            return
        reset = _first_number(headers, ("ratelimit-reset", "x-ratelimit-reset"))
        if reset is None:
            return
        delay = reset - self._wall_clock().timestamp() if reset > _EPOCH_THRESHOLD else reset
        self._pause(delay, "the API's quota is spent: pausing %.1fs until it resets")


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
