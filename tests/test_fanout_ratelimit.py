"""A fan-out's one rate limiter, over real HTTP: its entity listing and all its concurrent child syncs
(each with its own client and token) share the fan-out pipeline's `rate_limit`, so together they keep to
it against a server enforcing that same limit, and a 429's Retry-After holds every child until then."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import batchsync
from batchsync.models import EntityStatus, RunStatus
from fakeapi import SampleApi
from fakeapi.faults import FailNth, FaultOptions
from pacing import arrival_times, burst_beyond, tolerated_burst
from syncsupport import fetch_all, listed_fanout_document

# 4 to 8 pages of 10 transactions each: 47 pages in all, and each child's drift check reads its page 1
# again: 55 requests, beside the listing.
ACCOUNTS = ["acc-0", "acc-11", "acc-15", "acc-16", "acc-17", "acc-20", "acc-22", "acc-25"]


def listed_fanout(database: Path, api: SampleApi, accounts: list[str], rate: float) -> dict[str, Any]:
    """A fan-out over the accounts `GET /accounts` lists, one child sync each, up to 8 at once; each
    child's pages one after another, so the requests are counted exactly."""
    return listed_fanout_document(
        f"sqlite:///{database}",
        api,
        accounts,
        columns=("transaction_id",),
        fanout={"concurrency": 8},
        rate_limit={"requests_per_second": rate},
        concurrency=1,
    )


def synced_ids(database: Path) -> set[str]:
    return {row[0] for row in fetch_all(f"sqlite:///{database}", "SELECT transaction_id FROM transactions")}


def expected_ids(api: SampleApi, accounts: list[str]) -> set[str]:
    return {str(t["transaction_id"]) for account in accounts for t in api.accounts.transactions(account)}


def test_eight_concurrent_children_together_keep_to_the_servers_limit(api: SampleApi, database: Path) -> None:
    rate = 20
    api.settings.rate_limit_per_second = rate  # a bucket of 20 tokens: a client at 20/s is never refused

    result = batchsync.run("bank_sync", listed_fanout(database, api, ACCOUNTS, rate))

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert [entity.status for entity in result.entities] == [EntityStatus.SUCCEEDED] * 8
    log = api.requests
    assert api.rate_limited_count == 0, "eight children at 20/s each would send 160/s"
    assert sum(1 for request in log if request.path == "/accounts") == 1
    assert len(log) == 56
    assert burst_beyond(arrival_times(log), rate) <= tolerated_burst(rate), "the rate, give or take 6"
    assert synced_ids(database) == expected_ids(api, ACCOUNTS)


def test_a_429_one_child_gets_holds_every_child_until_its_retry_after(api: SampleApi, database: Path) -> None:
    accounts = ACCOUNTS[2:6]  # 4, 6, 4 and 6 pages
    api.settings.faults = FailNth({8: "rate_limited"}, options=FaultOptions(retry_after_seconds=1))
    config = listed_fanout(database, api, accounts, rate=10)
    config["pipelines"]["bank_sync"]["source"]["concurrency"] = 4

    result = batchsync.run("bank_sync", config)

    assert result.status is RunStatus.SUCCEEDED, result.error
    log = api.requests
    [refused] = [request for request in log if request.status == 429]
    paused_until = refused.received_at + 1.0
    during = [r.path for r in log if refused.received_at < r.received_at < paused_until]
    assert during == [], "no child sends while the API asked to wait"
    after = {request.path for request in log if request.received_at >= paused_until}
    assert len(after) == 4, "and every child goes on afterwards"
    assert synced_ids(database) == expected_ids(api, accounts)


def test_children_share_the_pipelines_concurrency_so_none_fetches_past_its_end(
    api: SampleApi, database: Path
) -> None:
    """Eight entities at once with `concurrency: 8`: each child gets one request of the eight, so no
    child guesses pages ahead (each would ask for pages past its end, spending the shared rate)."""
    config = listed_fanout(database, api, ACCOUNTS, rate=1000)
    config["pipelines"]["bank_sync"]["concurrency"] = 8

    result = batchsync.run("bank_sync", config)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert len(api.requests) == 56, "47 pages, 8 re-reads of page 1 and the listing: none past an end"
    assert synced_ids(database) == expected_ids(api, ACCOUNTS)


def test_one_entity_at_a_time_keeps_the_pipelines_concurrency_for_its_child(
    api: SampleApi, database: Path
) -> None:
    """The share is of the entities run at once: alone, a child fetches ahead as any pull does."""
    config = listed_fanout(database, api, ACCOUNTS[:1], rate=1000)
    config["pipelines"]["bank_sync"]["concurrency"] = 4
    config["pipelines"]["bank_sync"]["source"]["concurrency"] = 1

    result = batchsync.run("bank_sync", config)

    assert result.status is RunStatus.SUCCEEDED, result.error
    pages = [r for r in api.requests if r.path.endswith("/transactions")]
    assert len(pages) > 4 + 1, "4 pages and page 1 again, and pages guessed past the end"
    assert synced_ids(database) == expected_ids(api, ACCOUNTS[:1])
