"""The API's own rate limit and quota: a 429 with Retry-After beyond the budget, never within it; headers."""

from __future__ import annotations

import time
from collections import Counter

import httpx
from hypothesis import given
from hypothesis import strategies as st

from fakeapi import Inventory, SampleApi
from fakeapi.faults import AlwaysFail
from fakeapi.limits import Quota, TokenBucket

from .conftest import FakeClock

PAGES = "/inventory/v1/items"
EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z


def statuses(client: httpx.Client, count: int) -> list[int]:
    return [client.get(PAGES, params={"per_page": 1}).status_code for _ in range(count)]


# --- rate limit ------------------------------------------------------------------------------------------


def test_burst_beyond_the_bucket_is_refused_with_retry_after(
    client: httpx.Client, api: SampleApi, clock: FakeClock
) -> None:
    api.settings.rate_limit_per_second = 5
    assert statuses(client, 5) == [200] * 5  # the bucket starts full: capacity = rate
    refused = client.get(PAGES)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    assert "rate limit" in refused.json()["message"]
    clock.now += 0.2  # one token's worth
    assert statuses(client, 2) == [200, 429]
    assert api.rate_limited_count == 2
    assert api.faults_injected == Counter(rate_limited_enforced=2)
    assert [entry.fault for entry in api.requests].count("rate_limited_enforced") == 2


def test_a_client_pacing_at_the_rate_is_never_refused(
    client: httpx.Client, api: SampleApi, clock: FakeClock
) -> None:
    api.settings.rate_limit_per_second = 8
    for _ in range(16):
        client.get(PAGES, params={"per_page": 1})  # spend the initial burst
    for _ in range(80):
        clock.now += 1 / 8
        assert client.get(PAGES, params={"per_page": 1}).status_code == 200
    assert api.rate_limited_count == 8


def test_slow_rate_has_a_bucket_of_one_and_a_longer_retry_after(
    client: httpx.Client, api: SampleApi, clock: FakeClock
) -> None:
    api.settings.rate_limit_per_second = 0.25
    assert statuses(client, 2) == [200, 429]
    assert client.get(PAGES).headers["retry-after"] == "4"
    clock.now += 3.5
    assert client.get(PAGES).headers["retry-after"] == "1"  # 0.5 s left, rounded up to whole seconds
    clock.now += 0.5
    assert statuses(client, 2) == [200, 429]


def test_only_collection_requests_spend_tokens_and_turning_it_off_lifts_it(
    client: httpx.Client, api: SampleApi
) -> None:
    api.settings.rate_limit_per_second = 1
    assert [client.get("/health").status_code for _ in range(5)] == [200] * 5
    assert statuses(client, 2) == [200, 429]
    api.settings.rate_limit_per_second = None
    assert statuses(client, 3) == [200] * 3


def test_refused_requests_never_reach_the_fault_plan(client: httpx.Client, api: SampleApi) -> None:
    api.settings.rate_limit_per_second = 2
    api.settings.faults = AlwaysFail("server_error")
    assert statuses(client, 4) == [500, 500, 429, 429]
    assert api.faults_injected == Counter(server_error=2, rate_limited_enforced=2)


def test_with_a_real_clock_accepted_requests_stay_within_the_budget(inventory: Inventory) -> None:
    rate = 40.0
    with SampleApi(inventory) as api, httpx.Client(base_url=api.url, timeout=5.0) as client:
        api.settings.rate_limit_per_second = rate
        started = time.monotonic()
        codes = [client.get(PAGES, params={"per_page": 1}).status_code for _ in range(150)]
        elapsed = time.monotonic() - started
        assert codes.count(200) <= rate + rate * elapsed + 1
        assert codes.count(429) == api.rate_limited_count > 0


@given(
    rate=st.floats(min_value=0.1, max_value=100),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=60),
)
def test_token_bucket_never_exceeds_its_budget(rate: float, gaps: list[float]) -> None:
    now = 0.0
    bucket = TokenBucket(rate, now)
    accepted: list[float] = []
    for gap in gaps:
        now += gap
        if bucket.take(now) is None:
            accepted.append(now)
    # Over any stretch of time, at most one bucketful plus what refilled during it got through.
    for first in range(len(accepted)):
        for last in range(first, len(accepted)):
            span = accepted[last] - accepted[first]
            assert last - first + 1 <= max(1.0, rate) + rate * span + 1e-6


@given(
    rate=st.floats(min_value=0.1, max_value=100),
    slack=st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=60),
)
def test_token_bucket_never_refuses_requests_spaced_at_the_rate(rate: float, slack: list[float]) -> None:
    now = 0.0
    bucket = TokenBucket(rate, now)
    for extra in slack:
        assert bucket.take(now) is None
        now += 1 / rate + extra


# --- quota -----------------------------------------------------------------------------------------------


def test_ietf_quota_headers_count_down_refuse_and_reset(
    client: httpx.Client, api: SampleApi, clock: FakeClock
) -> None:
    api.settings.quota = Quota(limit=3, window_seconds=10)
    answers = [client.get(PAGES, params={"per_page": 1}) for _ in range(3)]
    assert [response.headers["ratelimit-remaining"] for response in answers] == ["2", "1", "0"]
    assert {(r.headers["ratelimit-limit"], r.headers["ratelimit-reset"]) for r in answers} == {("3", "10")}
    assert "x-ratelimit-limit" not in answers[0].headers

    clock.now += 4
    refused = client.get(PAGES)
    assert refused.status_code == 429
    assert (refused.headers["retry-after"], refused.headers["ratelimit-reset"]) == ("6", "6")
    assert refused.headers["ratelimit-remaining"] == "0"

    clock.now += 6  # the next window starts 10 s after the first request
    renewed = client.get(PAGES)
    assert renewed.status_code == 200
    assert (renewed.headers["ratelimit-remaining"], renewed.headers["ratelimit-reset"]) == ("2", "10")
    assert api.quota_refused_count == 1
    assert api.requests[3].fault == "quota_exceeded"


def test_x_style_quota_resets_at_a_fixed_unix_time(clock: FakeClock, inventory: Inventory) -> None:
    wall_clock = lambda: EPOCH + clock.now - 1000.0  # noqa: E731
    with (
        SampleApi(inventory, clock=clock, wall_clock=wall_clock) as api,
        httpx.Client(base_url=api.url, timeout=5.0) as client,
    ):
        api.settings.quota = Quota(limit=2, window_seconds=60, style="x")
        first = client.get(PAGES)
        clock.now += 25.5
        second, third = client.get(PAGES), client.get(PAGES)
        assert [r.headers["x-ratelimit-remaining"] for r in (first, second, third)] == ["1", "0", "0"]
        assert {r.headers["x-ratelimit-reset"] for r in (first, second, third)} == {str(EPOCH + 60)}
        assert {r.headers["x-ratelimit-limit"] for r in (first, second, third)} == {"2"}
        assert (third.status_code, third.headers["retry-after"]) == (429, "35")
        assert "ratelimit-limit" not in first.headers
        clock.now += 34.5
        fourth = client.get(PAGES)
        assert fourth.status_code == 200 and fourth.headers["x-ratelimit-reset"] == str(EPOCH + 120)
        assert api.quota_refused_count == 1


def test_quota_headers_ride_on_every_collection_answer_only(client: httpx.Client, api: SampleApi) -> None:
    api.settings.quota = Quota(limit=100, window_seconds=60)
    api.settings.faults = AlwaysFail("server_error")
    assert client.get(PAGES).headers["ratelimit-remaining"] == "99"
    assert client.get("/v1/items", params={"limit": 0}).headers["ratelimit-remaining"] == "98"
    assert "ratelimit-limit" not in client.get("/health").headers


def test_a_request_the_rate_limit_refuses_does_not_spend_quota(client: httpx.Client, api: SampleApi) -> None:
    api.settings.rate_limit_per_second = 1
    api.settings.quota = Quota(limit=10, window_seconds=60)
    allowed, refused = client.get(PAGES), client.get(PAGES)
    assert (allowed.status_code, refused.status_code) == (200, 429)
    assert allowed.headers["ratelimit-remaining"] == refused.headers["ratelimit-remaining"] == "9"
    assert api.faults_injected == Counter(rate_limited_enforced=1)


def test_a_new_quota_starts_a_fresh_window(client: httpx.Client, api: SampleApi) -> None:
    api.settings.quota = Quota(limit=1, window_seconds=3600)
    assert statuses(client, 2) == [200, 429]
    api.settings.quota = Quota(limit=1, window_seconds=3600)
    assert statuses(client, 2) == [200, 429]
    assert api.quota_refused_count == 2
