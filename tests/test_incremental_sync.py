"""Incremental sync: the watermark is sent, only changes are fetched, and it advances only when safe, on
SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
from typing import Any

import batchsync
from batchsync.engine import Progress
from batchsync.models import RunStatus
from fakeapi import SampleApi
from syncsupport import assert_table_at_equals_source, pipeline_config, url_document


def incremental_config(api: SampleApi, database_url: str, **incremental: Any) -> dict[str, Any]:
    settings = {"cursor_path": "last_modified_time", "param": "modified_since", **incremental}
    pipeline = pipeline_config(api.url, "offset_has_more", incremental=settings)
    return url_document(database_url, {"items": pipeline})


def test_second_run_sends_the_watermark_and_fetches_only_what_changed(
    api: SampleApi, database_url: str
) -> None:
    config = incremental_config(api, database_url)
    first = batchsync.run("items", config)
    newest = max(item["last_modified_time"] for item in api.inventory.items())
    changed = api.inventory.update(10, rng_seed=7)
    api.clear_log()

    second = batchsync.run("items", config)

    assert first.counts.created == 1_000
    assert (second.counts.created, second.counts.updated, second.counts.unchanged) == (0, 10, 0)
    assert all(request.query.get("modified_since") == newest for request in api.requests)
    assert sum(request.record_count for request in api.requests[: second.pages]) == len(changed)
    assert_table_at_equals_source(database_url, api.inventory)


def test_first_run_sends_the_initial_value(api: SampleApi, database_url: str) -> None:
    items = api.inventory.items()
    cutoff = sorted(item["last_modified_time"] for item in items)[899]
    config = incremental_config(api, database_url, initial_value=cutoff)

    result = batchsync.run("items", config)

    assert result.counts.created == 100
    assert {request.query["modified_since"] for request in api.requests} == {cutoff}


def test_param_template_sends_a_query_expression(api: SampleApi, database_url: str) -> None:
    config = incremental_config(api, database_url, param="q", param_template="last_modified_time > '{value}'")
    batchsync.run("items", config)
    api.inventory.update(3, rng_seed=2)
    api.clear_log()

    result = batchsync.run("items", config)

    assert result.counts.updated == 3 and result.total_synced == 3
    assert all(r.query["q"].startswith("last_modified_time > '2026-") for r in api.requests)


def test_full_refresh_ignores_the_watermark(api: SampleApi, database_url: str) -> None:
    config = incremental_config(api, database_url)
    batchsync.run("items", config)
    api.clear_log()

    result = batchsync.run("items", config, full_refresh=True)

    assert result.counts.unchanged == 1_000
    assert not any("modified_since" in request.query for request in api.requests)


def test_unsorted_source_keeps_the_old_watermark_until_the_pass_completes(
    api: SampleApi, database_url: str
) -> None:
    config = incremental_config(api, database_url)
    stopped = _run_stopping_after_first_batch(config)

    (status,) = batchsync.status("items", config)
    assert stopped.status is RunStatus.CANCELLED
    assert status.watermark is None, "an unfinished unsorted pass must not move the watermark"

    batchsync.run("items", config)
    (status,) = batchsync.status("items", config)
    assert status.watermark == max(item["last_modified_time"] for item in api.inventory.items())


def test_sorted_source_advances_the_watermark_with_every_committed_page(
    api: SampleApi, database_url: str
) -> None:
    config = incremental_config(api, database_url, sorted=True)
    config["pipelines"]["items"]["source"]["params"] = {"sort": "last_modified_time"}

    stopped = _run_stopping_after_first_batch(config)

    (status,) = batchsync.status("items", config)
    ordered = sorted(item["last_modified_time"] for item in api.inventory.items())
    assert stopped.status is RunStatus.CANCELLED
    assert status.watermark == ordered[status.pass_records - 1]


def _run_stopping_after_first_batch(config: dict[str, Any]) -> batchsync.RunResult:
    stop = threading.Event()

    def stop_after_first(_progress: Progress) -> None:
        stop.set()

    return batchsync.run("items", config, stop=stop, on_progress=stop_after_first)


def test_an_interrupted_incremental_pass_resumes_with_the_watermark_it_started_with(
    api: SampleApi, database_url: str
) -> None:
    config = incremental_config(api, database_url)
    config["pipelines"]["items"]["source"]["paginator"]["limit"] = 25
    batchsync.run("items", config)
    first_watermark = max(item["last_modified_time"] for item in api.inventory.items())
    api.inventory.update(300, rng_seed=11)
    api.clear_log()

    stopped = _run_stopping_after_first_batch(config)
    resumed = batchsync.run("items", config)

    assert stopped.status is RunStatus.CANCELLED and resumed.status is RunStatus.SUCCEEDED
    assert {request.query["modified_since"] for request in api.requests} == {first_watermark}
    assert (stopped.counts + resumed.counts).updated == 300
    (status,) = batchsync.status("items", config)
    assert status.watermark == max(item["last_modified_time"] for item in api.inventory.items())
    assert_table_at_equals_source(database_url, api.inventory)
