"""The rate limiter on an injected clock: never over budget, slower after a 429, paused by quota headers."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchsync.errors import QuotaExhaustedError
from batchsync.http.ratelimit import RateLimiter

START = 1_767_225_600.0  # 2026-01-01: wall-clock resets (GitHub's) are Unix times


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


def limiter(rate: float | None, clock: FakeClock, max_wait: float = 60.0) -> RateLimiter:
    return RateLimiter(
        rate,
        max_wait_seconds=max_wait,
        clock=clock,
        sleep=clock.sleep,
        wall_clock=lambda: datetime.fromtimestamp(clock.now, UTC),
    )


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=200),
    idle_gaps=st.lists(st.floats(min_value=0, max_value=3), min_size=5, max_size=80),
)
def test_requests_are_never_closer_than_the_configured_rate_allows(
    rate: float, idle_gaps: list[float]
) -> None:
    clock = FakeClock()
    gate = limiter(rate, clock)
    granted = []
    for gap in idle_gaps:
        clock.now += gap  # the caller does other work between requests
        gate.acquire()
        granted.append(clock.now)

    gaps = [later - earlier for earlier, later in itertools.pairwise(granted)]
    assert all(gap >= 1 / rate - 1e-6 for gap in gaps)  # float resolution at a 1.7e9 clock
    for start in granted:  # and so no one-second window holds more than the budget
        assert sum(1 for moment in granted if start <= moment < start + 1) <= max(1, int(rate + 1e-9)) + (
            0 if float(rate).is_integer() else 1
        )


def test_a_429_halves_the_rate_and_successes_bring_it_back() -> None:
    clock = FakeClock()
    gate = limiter(10, clock)

    gate.observe(429, {})
    slowed = gate.current_rate
    for _ in range(200):
        gate.observe(200, {})

    assert slowed == 5
    assert gate.current_rate == 10


def test_without_a_configured_rate_there_is_no_wait() -> None:
    clock = FakeClock()
    gate = limiter(None, clock)
    for _ in range(100):
        gate.acquire()
    assert clock.now == START


@pytest.mark.parametrize(
    "headers",
    [
        {"RateLimit-Remaining": "0", "RateLimit-Reset": "5"},
        {"ratelimit-remaining": "0, 0;w=60", "ratelimit-reset": "5"},
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(START + 5))},  # GitHub: Unix time
    ],
    ids=["ietf", "ietf_list", "x_epoch"],
)
def test_a_spent_quota_pauses_until_the_reset(headers: dict[str, str]) -> None:
    clock = FakeClock()
    gate = limiter(None, clock)

    gate.observe(200, headers)
    gate.acquire()

    assert clock.now - START == pytest.approx(5)


def test_remaining_quota_means_no_pause() -> None:
    clock = FakeClock()
    gate = limiter(None, clock)
    gate.observe(200, {"RateLimit-Remaining": "3", "RateLimit-Reset": "30"})
    gate.acquire()
    assert clock.now == START


def test_a_quota_reset_beyond_max_wait_stops_with_the_time_to_resume() -> None:
    clock = FakeClock()
    gate = limiter(None, clock, max_wait=10)
    gate.observe(429, {"RateLimit-Remaining": "0", "RateLimit-Reset": "3600"})

    with pytest.raises(QuotaExhaustedError) as raised:
        gate.acquire()

    assert raised.value.resume_at == datetime.fromtimestamp(START + 3600, UTC)
    assert "run again after" in str(raised.value)
    assert clock.now == START, "it must not wait before giving up"


def test_slow_pacing_of_our_own_is_never_mistaken_for_a_spent_quota() -> None:
    clock = FakeClock()
    gate = limiter(1 / 120, clock, max_wait=10)  # one request every two minutes, far beyond max_wait

    gate.acquire()
    gate.acquire()

    assert clock.now - START == pytest.approx(120)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_pauses_every_request_until_then(status: int) -> None:
    clock = FakeClock()
    gate = limiter(None, clock)

    gate.observe(status, {"Retry-After": "7"})
    gate.acquire()  # any thread's next request, not only the one that got the answer

    assert clock.now - START == pytest.approx(7)


def test_retry_after_as_an_http_date_pauses_until_that_moment() -> None:
    clock = FakeClock()
    gate = limiter(10, clock)

    gate.observe(429, {"Retry-After": "Thu, 01 Jan 2026 00:00:12 GMT"})  # START is 00:00:00
    gate.acquire()

    assert clock.now - START == pytest.approx(12)


def test_a_turn_taken_before_a_pause_began_waits_for_the_pause_too() -> None:
    clock = FakeClock()
    gate: RateLimiter

    def sleep(seconds: float) -> None:
        if clock.now == START + 1:  # this thread waits for its turn; meanwhile another one gets a 429
            gate.observe(429, {"Retry-After": "5"})
        clock.sleep(seconds)

    gate = RateLimiter(1, clock=clock, sleep=sleep, wall_clock=lambda: datetime.fromtimestamp(clock.now, UTC))
    clock.now = START + 1
    gate.acquire()  # the first turn: at once
    gate.acquire()  # its turn would be START + 2, but the pause runs to START + 6

    assert clock.now - START == pytest.approx(6)


def test_other_statuses_and_a_zero_retry_after_do_not_pause() -> None:
    clock = FakeClock()
    gate = limiter(None, clock)

    gate.observe(500, {"Retry-After": "30"})
    gate.observe(429, {"Retry-After": "0"})
    gate.observe(503, {"Retry-After": "soon"})
    gate.acquire()

    assert clock.now == START


def test_a_shorter_retry_after_never_cuts_a_longer_pause_short() -> None:
    clock = FakeClock()
    gate = limiter(None, clock)

    gate.observe(200, {"RateLimit-Remaining": "0", "RateLimit-Reset": "20"})
    gate.observe(429, {"Retry-After": "2"})
    gate.acquire()

    assert clock.now - START == pytest.approx(20)


def test_a_429_retry_after_beyond_max_wait_stops_every_request_with_the_time_to_resume() -> None:
    clock = FakeClock()
    gate = limiter(None, clock, max_wait=10)
    gate.observe(429, {"Retry-After": "3600"})

    with pytest.raises(QuotaExhaustedError) as raised:
        gate.acquire()

    assert raised.value.resume_at == datetime.fromtimestamp(START + 3600, UTC)
    assert clock.now == START, "it must not wait before giving up"


def test_a_503_retry_after_beyond_max_wait_pauses_for_max_wait_only() -> None:
    clock = FakeClock()
    gate = limiter(None, clock, max_wait=10)

    gate.observe(503, {"Retry-After": "3600"})  # an outage's hint: retried after max_backoff, as before
    gate.acquire()

    assert clock.now - START == pytest.approx(10)
