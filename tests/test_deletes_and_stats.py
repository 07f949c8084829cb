"""Rows gone from the source are soft-deleted or deleted after a complete full pass, and only then;
`stats` reports figures that match the table; on SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

import batchsync
from batchsync.cli import app
from batchsync.engine import Progress
from batchsync.models import RunStatus
from fakeapi import SampleApi
from syncsupport import (
    assert_table_at_equals_source,
    execute,
    fetch_all,
    pipeline_config,
    table_rows_at,
    url_document,
)


def config_with(api: SampleApi, database_url: str, on_missing: str, **source: Any) -> dict[str, Any]:
    pipeline = pipeline_config(api.url, "offset_has_more", **source)
    pipeline["destination"]["on_missing"] = on_missing
    return url_document(database_url, {"items": pipeline})


def deleted_at(database_url: str) -> dict[str, object]:
    """Each row's deletion mark: None, or text (SQLite) or a datetime (PostgreSQL)."""
    return dict(fetch_all(database_url, "SELECT item_id, _batchsync_deleted_at FROM items"))


def stop_after_first_batch(config: dict[str, Any]) -> batchsync.RunResult:
    stop = threading.Event()

    def stop_now(_: Progress) -> None:
        stop.set()

    return batchsync.run("items", config, stop=stop, on_progress=stop_now)


def test_soft_delete_marks_rows_gone_from_the_source_only_after_a_complete_pass(
    api: SampleApi, database_url: str
) -> None:
    config = config_with(api, database_url, "soft_delete")
    batchsync.run("items", config)
    gone = [item["item_id"] for item in api.inventory.items()[100:130]]
    api.inventory.delete(gone)

    interrupted = stop_after_first_batch(config)
    marked_early = {key for key, when in deleted_at(database_url).items() if when}
    finished = batchsync.run("items", config)

    marks = deleted_at(database_url)
    assert interrupted.status is RunStatus.CANCELLED and interrupted.deleted == 0 and not marked_early
    assert finished.deleted == 30
    assert {key for key, when in marks.items() if when} == set(gone)
    assert len(marks) == 1_000, "soft-deleted rows stay in the table"
    assert batchsync.stats("items", config).deleted_rows == 30


def test_delete_removes_rows_gone_from_the_source_so_the_table_equals_it(
    api: SampleApi, database_url: str
) -> None:
    config = config_with(api, database_url, "delete")
    batchsync.run("items", config)
    api.inventory.delete([item["item_id"] for item in api.inventory.items()[::50]])

    result = batchsync.run("items", config)

    assert result.deleted == 20
    assert_table_at_equals_source(database_url, api.inventory)


def test_an_incremental_pass_never_deletes(api: SampleApi, database_url: str) -> None:
    incremental = {"cursor_path": "last_modified_time", "param": "modified_since"}
    config = config_with(api, database_url, "delete", incremental=incremental)
    batchsync.run("items", config)
    api.inventory.delete([api.inventory.items()[0]["item_id"]])
    api.inventory.update(5, rng_seed=3)

    result = batchsync.run("items", config)

    assert result.counts.updated == 5 and result.deleted == 0
    assert len(table_rows_at(database_url)) == 1_000


def test_stats_match_the_table(api: SampleApi, database_url: str, tmp_path: Path) -> None:
    incremental = {"cursor_path": "last_modified_time", "param": "modified_since"}
    config = config_with(api, database_url, "keep", incremental=incremental)
    api.settings.poison = {api.inventory.items()[7]["item_id"]: "bad_decimal"}
    batchsync.run("items", config)
    api.settings.poison = {}
    api.inventory.update(10, rng_seed=5)
    batchsync.run("items", config)  # sees only the 10 changed records
    execute(  # 25 rows no sync has seen for years
        database_url,
        "UPDATE items SET _batchsync_seen_at = '2000-01-01T00:00:00.000000+00:00' "
        "WHERE item_id IN (SELECT item_id FROM items ORDER BY item_id LIMIT 25)",
    )
    config_file = tmp_path / "c.yaml"
    config_file.write_text(orjson.dumps(config).decode())

    figures = batchsync.stats("items", config)
    shown = orjson.loads(CliRunner().invoke(app, ["stats", "items", "-c", str(config_file), "--json"]).stdout)
    (status,) = batchsync.status("items", config)

    assert figures.total_rows == 999  # one record is a dead letter
    assert figures.synced_last_run == 10
    assert figures.stale_rows == 25
    assert figures.dead_letters == 1 and figures.deleted_rows == 0
    assert figures.last_sync_at == status.last_synced_at
    assert shown == figures.to_dict()


def test_stale_after_takes_a_duration() -> None:
    from datetime import timedelta

    assert batchsync.operations.parse_duration("90s") == timedelta(seconds=90)
    assert batchsync.operations.parse_duration("24h") == timedelta(hours=24)
    assert batchsync.operations.parse_duration("7d") == timedelta(days=7)
    with pytest.raises(batchsync.ConfigError):
        batchsync.operations.parse_duration("soon")


def test_a_record_that_is_dead_lettered_is_not_deleted_as_missing(api: SampleApi, database_url: str) -> None:
    config = config_with(api, database_url, "delete")
    batchsync.run("items", config)
    broken = api.inventory.items()[10]["item_id"]
    api.settings.poison = {broken: "bad_decimal"}  # still in the source, just unreadable for now

    result = batchsync.run("items", config)

    assert result.status is RunStatus.PARTIAL and result.deleted == 0
    assert broken in table_rows_at(database_url)


def test_on_missing_is_refused_where_no_single_complete_pass_exists(api: SampleApi, database: Path) -> None:
    document = config_with(api, f"sqlite:///{database}", "delete")  # refused before any database is opened
    document["pipelines"]["items"]["source"] = {
        "type": "fanout",
        "entities": {"table": "users"},
        "child_source": {"base_url": api.url, "path": "/x"},
    }
    with pytest.raises(batchsync.ConfigError) as raised:
        batchsync.parse_config(document)
    assert "on_missing: delete needs a complete pass" in str(raised.value.problems)
