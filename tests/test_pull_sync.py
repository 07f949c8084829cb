"""End to end: each pagination style syncs a 10,000-record collection from the sample API into SQLite,
and the table then equals the source exactly; reruns count created / updated / unchanged truthfully, on
SQLite and PostgreSQL alike (test_postgres.py reconciles every style on PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

import batchsync
from batchsync.models import RunStatus
from fakeapi import Inventory, SampleApi
from syncsupport import (
    STYLES,
    assert_table_at_equals_source,
    assert_table_equals_source,
    config_document,
    fetch_all,
    pipeline_config,
    url_document,
)


@pytest.fixture(scope="module")
def big_api() -> SampleApi:
    with SampleApi(Inventory(size=10_000)) as server:
        yield server


@pytest.mark.parametrize("style", sorted(STYLES))
def test_each_pagination_style_syncs_the_whole_collection_exactly(
    style: str, big_api: SampleApi, database: Path
) -> None:
    big_api.clear_log()
    # One page after another, so every request is a page of the pass (test_parallel_pages.py covers 4, 16).
    pipeline = {**pipeline_config(big_api.url, style), "concurrency": 1}
    config = config_document(database, {"items": pipeline})

    result = batchsync.run("items", config)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.counts.created == 10_000
    assert result.is_pass_complete
    assert_table_equals_source(database, big_api.inventory)
    is_positional = STYLES[style]["paginator"]["type"] in ("offset", "page_number", "link_header")
    drift_checks = 1 if is_positional else 0  # positional passes end by re-reading page 1 for drift
    assert result.api_calls == len(big_api.requests) == result.pages + drift_checks
    walked = big_api.requests[: result.pages]
    assert sum(r.record_count for r in walked) == 10_000, "a page was fetched twice or skipped"
    assert result.drift.inserted == result.drift.deleted == 0 and not result.warnings


def test_rerun_of_an_unchanged_source_counts_every_record_unchanged(
    api: SampleApi, database_url: str
) -> None:
    config = url_document(database_url, {"items": pipeline_config(api.url)})
    batchsync.run("items", config)

    again = batchsync.run("items", config)

    assert (again.counts.created, again.counts.updated, again.counts.unchanged) == (0, 0, 1_000)


def test_rerun_after_k_updates_and_m_additions_counts_exactly_those(
    api: SampleApi, database_url: str
) -> None:
    config = url_document(database_url, {"items": pipeline_config(api.url, "offset_has_more")})
    batchsync.run("items", config)
    updated = api.inventory.update(37, rng_seed=4)
    added = api.inventory.add(12)

    result = batchsync.run("items", config)

    assert len(set(updated)) == 37 and len(added) == 12
    assert (result.counts.created, result.counts.updated, result.counts.unchanged) == (12, 37, 1_000 - 37)
    assert_table_at_equals_source(database_url, api.inventory)


def test_unchanged_rows_are_not_rewritten(api: SampleApi, database_url: str) -> None:
    config = url_document(database_url, {"items": pipeline_config(api.url)})
    batchsync.run("items", config)
    before = dict(fetch_all(database_url, "SELECT item_id, _batchsync_synced_at FROM items"))
    changed = api.inventory.update(5, rng_seed=1)

    batchsync.run("items", config)

    after = dict(fetch_all(database_url, "SELECT item_id, _batchsync_synced_at FROM items"))
    rewritten = {key for key in before if before[key] != after[key]}
    assert rewritten == set(changed)


def test_db_batch_size_smaller_than_a_page_still_syncs_exactly(api: SampleApi, database_url: str) -> None:
    config = url_document(database_url, {"items": {**pipeline_config(api.url), "db_batch_size": 37}})

    result = batchsync.run("items", config)

    assert result.counts.created == 1_000
    assert_table_at_equals_source(database_url, api.inventory)


def test_batch_size_overrides_the_page_size(api: SampleApi, database_url: str) -> None:
    config = url_document(database_url, {"items": pipeline_config(api.url, "offset_has_more")})

    result = batchsync.run("items", config, batch_size=50)

    assert result.pages == 20
    assert {r.query["limit"] for r in api.requests} == {"50"}


def test_empty_collection_succeeds_with_nothing_synced(database_url: str) -> None:
    with SampleApi(Inventory(size=0)) as empty:
        config = url_document(database_url, {"items": pipeline_config(empty.url, "page_number_short_page")})
        result = batchsync.run("items", config)

    assert result.status is RunStatus.SUCCEEDED
    assert result.total_synced == 0 and result.is_pass_complete


def test_records_path_missing_from_the_answer_fails_with_its_name(api: SampleApi, database_url: str) -> None:
    config = url_document(database_url, {"items": pipeline_config(api.url, records_path="products")})

    result = batchsync.run("items", config)

    assert result.status is RunStatus.FAILED
    assert "records_path products" in (result.error or "")


def test_base_url_answering_html_fails_clearly(api: SampleApi, database_url: str) -> None:
    config = url_document(database_url, {"items": pipeline_config(api.url, path="/")})

    result = batchsync.run("items", config)

    assert result.status is RunStatus.FAILED
    assert "HTML where JSON was expected" in (result.error or "")
