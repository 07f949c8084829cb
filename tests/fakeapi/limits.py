"""The fake API's own front door: a per-second rate limit and a request quota, checked before any endpoint.

`Gate.admit` runs first for every collection request. A refusal is a 429 with `Retry-After` (whole seconds,
at least 1), logged with fault "rate_limited_enforced" or "quota_exceeded"; a refused request never reaches
auth, the endpoint or the fault plan. With `SampleApiSettings.quota` set, every collection response carries
the quota headers, in one of two styles:

    ietf   RateLimit-Limit: 100, RateLimit-Remaining: 37, RateLimit-Reset: 12   (seconds until reset)
    x      X-RateLimit-Limit: 100, X-RateLimit-Remaining: 37, X-RateLimit-Reset: 1767225612   (Unix time)
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias

from fakeapi.messages import Response, json_response

QuotaStyle: TypeAlias = Literal["ietf", "x"]
RATE_LIMITED_FAULT = "rate_limited_enforced"
QUOTA_FAULT = "quota_exceeded"

Headers: TypeAlias = tuple[tuple[str, str], ...]

# Clock arithmetic in floats: a client pacing at exactly the rate must not be refused over a rounding error.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Quota:
    """At most `limit` collection requests per fixed window of `window_seconds`, advertised in headers of
    `style` ("ietf": RateLimit-*, reset in seconds; "x": X-RateLimit-*, reset as Unix time)."""

    limit: int
    window_seconds: float
    style: QuotaStyle = "ietf"


class TokenBucket:
    """Holds at most max(1, rate) tokens, refilled at `rate_per_second`; one request takes one token."""

    def __init__(self, rate_per_second: float, now: float) -> None:
        if rate_per_second <= 0:
            raise ValueError(f"rate_limit_per_second must be > 0, got {rate_per_second}")
        self.rate_per_second = rate_per_second
        self.capacity = max(1.0, rate_per_second)
        self._tokens = self.capacity
        self._updated = now

    def take(self, now: float) -> float | None:
        """Take a token and return None, or return the seconds until one is available and take nothing."""
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate_per_second)
        self._updated = max(self._updated, now)
        if self._tokens + _EPSILON >= 1.0:
            self._tokens = max(0.0, self._tokens - 1.0)
            return None
        return (1.0 - self._tokens) / self.rate_per_second


@dataclass(frozen=True, slots=True)
class QuotaState:
    """Where the quota stands after one request: whether it was allowed, and what the headers say."""

    is_allowed: bool
    remaining: int
    seconds_to_reset: float
    reset_unix_time: float


class QuotaWindow:
    """Fixed windows of `quota.window_seconds` back to back, the first starting at the first request."""

    def __init__(self, quota: Quota, now: float, unix_now: float) -> None:
        if quota.limit < 0 or quota.window_seconds <= 0:
            raise ValueError(f"quota needs limit >= 0 and window_seconds > 0, got {quota}")
        self.quota = quota
        self._first_start = now
        self._first_start_unix = unix_now  # a window resets at one fixed Unix time, however the clocks drift
        self._window = 0
        self._used = 0

    def take(self, now: float) -> QuotaState:
        """Count one request against the quota, unless it is used up."""
        seconds_to_reset = self._advance(now)
        if self._used >= self.quota.limit:
            return QuotaState(False, 0, seconds_to_reset, self._reset_unix_time())
        self._used += 1
        return QuotaState(True, self.quota.limit - self._used, seconds_to_reset, self._reset_unix_time())

    def peek(self, now: float) -> QuotaState:
        """The state without counting a request, for answers refused before the quota was consulted."""
        seconds_to_reset = self._advance(now)
        remaining = self.quota.limit - self._used
        return QuotaState(remaining > 0, remaining, seconds_to_reset, self._reset_unix_time())

    def _advance(self, now: float) -> float:
        window_seconds = self.quota.window_seconds
        window = max(0, math.floor((now - self._first_start + _EPSILON) / window_seconds))
        if window > self._window:
            self._window, self._used = window, 0
        return self._first_start + (self._window + 1) * window_seconds - now

    def _reset_unix_time(self) -> float:
        return self._first_start_unix + (self._window + 1) * self.quota.window_seconds


@dataclass(frozen=True, slots=True)
class Admission:
    """The gate's verdict: a 429 to send instead of the answer, or None; and headers for whatever is sent."""

    refusal: Response | None
    headers: Headers


class Gate:
    """Applies a per-second rate limit and a quota to collection requests; thread-safe.

    Limiter and quota state start afresh whenever the rate or the `Quota` object changes, so a test can
    switch limits on, off or to new values while the API serves. `clock` is monotonic seconds; `wall_clock`
    is Unix time, used only for X-RateLimit-Reset.
    """

    def __init__(self, clock: Callable[[], float], wall_clock: Callable[[], float]) -> None:
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._bucket: TokenBucket | None = None
        self._window: QuotaWindow | None = None

    def admit(self, rate: float | None, quota: Quota | None) -> Admission:
        """Let one collection request in or refuse it, under `rate` requests per second and `quota`."""
        with self._lock:
            now = self._clock()
            wait = self._bucket_for(rate, now).take(now) if rate is not None else None
            window = self._window_for(quota, now)
            state: QuotaState | None = None
            headers: Headers = ()
            if window is not None:
                state = window.peek(now) if wait is not None else window.take(now)
                headers = self._quota_headers(window.quota, state)
        if wait is not None:
            message = f"rate limit exceeded: at most {rate:g} requests per second"
            return Admission(_too_many(wait, message, RATE_LIMITED_FAULT, headers), headers)
        if state is not None and not state.is_allowed:
            assert quota is not None
            message = f"quota of {quota.limit} requests per {quota.window_seconds:g} s used up"
            return Admission(_too_many(state.seconds_to_reset, message, QUOTA_FAULT, headers), headers)
        return Admission(None, headers)

    def _bucket_for(self, rate: float, now: float) -> TokenBucket:
        if self._bucket is None or self._bucket.rate_per_second != rate:
            self._bucket = TokenBucket(rate, now)
        return self._bucket

    def _window_for(self, quota: Quota | None, now: float) -> QuotaWindow | None:
        if quota is None:
            self._window = None
        elif self._window is None or self._window.quota is not quota:
            self._window = QuotaWindow(quota, now, self._wall_clock())
        return self._window

    @staticmethod
    def _quota_headers(quota: Quota, state: QuotaState) -> Headers:
        if quota.style == "x":
            reset_at = math.ceil(state.reset_unix_time - _EPSILON)
            return (
                ("X-RateLimit-Limit", str(quota.limit)),
                ("X-RateLimit-Remaining", str(state.remaining)),
                ("X-RateLimit-Reset", str(reset_at)),
            )
        return (
            ("RateLimit-Limit", str(quota.limit)),
            ("RateLimit-Remaining", str(state.remaining)),
            ("RateLimit-Reset", str(_whole_seconds(state.seconds_to_reset))),
        )


def _too_many(wait_seconds: float, message: str, fault: str, headers: Headers) -> Response:
    retry_after = (("Retry-After", str(max(1, _whole_seconds(wait_seconds)))),)
    response = json_response(429, {"code": 429, "message": message}, headers=retry_after + headers)
    return Response(response.status, response.body, headers=response.headers, fault=fault)


def _whole_seconds(seconds: float) -> int:
    return max(0, math.ceil(seconds - _EPSILON))
