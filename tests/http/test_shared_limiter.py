"""Several threads sending through one HttpClient (as a parallel page fetch does) share its one limiter,
against the fake API over real HTTP: together they keep to the configured rate, and a 429's Retry-After
that one of them gets holds all of them until then."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from batchsync.http.client import HttpClient
from batchsync.http.ratelimit import RateLimiter
from batchsync.http.retry import RetryPolicy
from batchsync.models import PageRequest
from batchsync.sampleapi.inventory import ITEMS_PATH
from fakeapi import SampleApi
from fakeapi.faults import FailNth, FaultOptions
from pacing import arrival_times, burst_beyond, tolerated_burst


def fetch_from_threads(client: HttpClient, workers: int, pages: int) -> None:
    """Each worker fetches `pages` pages, tagged with its number (`worker=`), all at once with the others."""

    def work(worker: int) -> Callable[[], None]:
        def fetch_pages() -> None:
            for page in range(1, pages + 1):
                params = {"page": str(page), "per_page": "10", "worker": str(worker)}
                client.fetch(PageRequest(ITEMS_PATH, params))

        return fetch_pages

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(work(worker)) for worker in range(workers)]:
            future.result()


def test_threads_sharing_one_client_keep_together_to_the_servers_limit(api: SampleApi) -> None:
    rate = 20
    api.settings.rate_limit_per_second = rate
    with HttpClient(api.url, rate_limiter=RateLimiter(rate), retry=RetryPolicy(max_attempts=3)) as client:
        fetch_from_threads(client, workers=6, pages=8)

    assert [request.status for request in api.requests] == [200] * 48, "no 429: the pace held"
    assert burst_beyond(arrival_times(api.requests), rate) <= tolerated_burst(rate)


def test_a_429_one_thread_gets_holds_every_thread_until_its_retry_after(api: SampleApi) -> None:
    api.settings.faults = FailNth({6: "rate_limited"}, options=FaultOptions(retry_after_seconds=1))
    with HttpClient(api.url, rate_limiter=RateLimiter(10), retry=RetryPolicy(max_attempts=3)) as client:
        fetch_from_threads(client, workers=3, pages=4)

    log = api.requests
    [refused] = [request for request in log if request.status == 429]
    paused_until = refused.received_at + 1.0
    during = [r.query["worker"] for r in log if refused.received_at < r.received_at < paused_until]
    assert during == [], "no thread sends while the API asked to wait"
    after = {request.query["worker"] for request in log if request.received_at >= paused_until}
    assert after == {"0", "1", "2"}, "and every thread goes on afterwards"
    assert len(log) == 13  # 12 pages, one of them twice
