"""The same guarantees on a real PostgreSQL server: exact reconciliation of every paginator style, true
counts, native column types, one run at a time, a server restart mid-sync, and schema evolution. The
`database_url` fixture runs the shared cases on SQLite too."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import create_engine, inspect, text

import batchsync
from batchsync.models import RunStatus
from fakeapi import Inventory, SampleApi
from fakeapi.messages import ApiRequest, Response
from syncsupport import (
    STYLES,
    assert_table_at_equals_source,
    expected_rows,
    fetch_all,
    fetch_dicts,
    pipeline_config,
    table_rows_at,
    url_document,
    write_config,
)


@pytest.fixture(scope="module")
def big_api() -> SampleApi:
    with SampleApi(Inventory(size=10_000)) as server:
        yield server


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_paginator_style_reconciles_exactly_on_postgresql(
    style: str, big_api: SampleApi, postgres_url: str
) -> None:
    result = batchsync.run(
        "items", url_document(postgres_url, {"items": pipeline_config(big_api.url, style)})
    )

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.counts.created == 10_000
    assert_table_at_equals_source(postgres_url, big_api.inventory)


def test_counts_come_from_the_database_on_both(database_url: str) -> None:
    with SampleApi(Inventory(size=1_000)) as api:
        config = url_document(database_url, {"items": pipeline_config(api.url, "offset_has_more")})
        first = batchsync.run("items", config)
        rerun = batchsync.run("items", config)
        api.inventory.update(17, rng_seed=2)
        api.inventory.add(9)
        third = batchsync.run("items", config)

        assert (first.counts.created, first.counts.updated, first.counts.unchanged) == (1_000, 0, 0)
        assert (rerun.counts.created, rerun.counts.updated, rerun.counts.unchanged) == (0, 0, 1_000)
        assert (third.counts.created, third.counts.updated, third.counts.unchanged) == (9, 17, 983)
        assert_table_at_equals_source(database_url, api.inventory)


def test_columns_have_native_postgresql_types(postgres_url: str) -> None:
    with SampleApi(Inventory(size=10)) as api:
        batchsync.run("items", url_document(postgres_url, {"items": pipeline_config(api.url)}))
    engine = create_engine(postgres_url)
    try:
        types = {column["name"]: str(column["type"]) for column in inspect(engine).get_columns("items")}
    finally:
        engine.dispose()
    assert types["price"] == "NUMERIC" and types["is_active"] == "BOOLEAN"
    assert types["updated_at"] == "TIMESTAMP" and types["custom_fields"] == "JSONB"
    assert types["stock_quantity"] == "BIGINT"


def test_a_second_run_is_refused_while_the_first_finishes_unharmed(postgres_url: str, tmp_path: Path) -> None:
    with SampleApi(Inventory(size=1_000)) as api:
        api.settings.latency_seconds = 0.03
        pipeline = pipeline_config(api.url)
        pipeline["source"]["paginator"]["page_size"] = 50
        config_file = write_config(tmp_path / "c.yaml", url_document(postgres_url, {"items": pipeline}))
        first = subprocess.Popen(
            [sys.executable, "-m", "batchsync", "run", "items", "-c", str(config_file), "-q"]
        )
        while len(api.requests) < 3:
            time.sleep(0.005)

        with pytest.raises(batchsync.RunConflictError, match="is already running: run "):
            batchsync.run("items", batchsync.load_config(config_file))

        assert first.wait(timeout=60) == 0
        assert_table_at_equals_source(postgres_url, api.inventory)

        killed = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "batchsync",
                "run",
                "items",
                "-c",
                str(config_file),
                "-q",
                "--full-refresh",
            ]
        )
        while len(api.requests) < 30:
            time.sleep(0.005)
        killed.kill()
        killed.wait()
        api.settings.latency_seconds = 0

        after_kill = batchsync.run("items", batchsync.load_config(config_file))

        assert after_kill.status is RunStatus.SUCCEEDED, "the killed run's lease was taken over"


def test_a_server_restart_mid_sync_fails_cleanly_or_recovers_and_a_rerun_ends_exact(
    postgres_server: Any, postgres_url: str
) -> None:
    with SampleApi(Inventory(size=3_000)) as api:
        api.settings.latency_seconds = 0.01
        pipeline = pipeline_config(api.url)
        pipeline["source"]["paginator"]["page_size"] = 50
        config = url_document(postgres_url, {"items": pipeline})
        outcome: dict[str, Any] = {}
        syncing = threading.Thread(target=lambda: outcome.update(result=batchsync.run("items", config)))
        syncing.start()
        while len(api.requests) < 15:
            time.sleep(0.005)
        postgres_server.restart()
        syncing.join(timeout=120)
        api.settings.latency_seconds = 0

        rerun = batchsync.run("items", config)

        assert outcome["result"].status in (RunStatus.FAILED, RunStatus.SUCCEEDED)
        if outcome["result"].status is RunStatus.FAILED:
            error = outcome["result"].error or ""  # the write or the checkpoint save met the restart
            assert "server" in error or "connection" in error, error
        assert rerun.status is RunStatus.SUCCEEDED
        assert_table_at_equals_source(postgres_url, api.inventory)


def test_a_column_added_to_the_config_is_added_on_both(database_url: str) -> None:
    with SampleApi(Inventory(size=200)) as api:
        pipeline = pipeline_config(api.url)
        batchsync.run("items", url_document(database_url, {"items": pipeline}))
        pipeline["destination"]["columns"]["stock_unit"] = {"path": "unit", "type": "string"}

        grown = batchsync.run("items", url_document(database_url, {"items": pipeline}))

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            units = {unit for (unit,) in connection.execute(text("SELECT stock_unit FROM items"))}
    finally:
        engine.dispose()
    assert grown.counts.updated == 200 and units == {"pcs"}


def test_state_and_data_tables_go_to_their_own_schemas(postgres_url: str) -> None:
    with SampleApi(Inventory(size=300)) as api:
        pipeline = pipeline_config(api.url)
        pipeline["destination"]["schema"] = "sync_data"
        config = {**url_document(postgres_url, {"items": pipeline}), "state_schema": "batchsync_state"}

        result = batchsync.run("items", config)
        (status,) = batchsync.status("items", config)
        history = batchsync.history("items", config)

    engine = create_engine(postgres_url)
    try:
        inspector = inspect(engine)
        state_tables = set(inspector.get_table_names(schema="batchsync_state"))
        data_tables = set(inspector.get_table_names(schema="sync_data"))
        public_tables = set(inspector.get_table_names(schema="public"))
    finally:
        engine.dispose()
    assert result.status is RunStatus.SUCCEEDED and result.counts.created == 300
    assert status.is_complete and status.table_rows == 300 and len(history) == 1
    assert {"batchsync_checkpoints", "batchsync_runs", "batchsync_leases", "batchsync_errors"} <= state_tables
    assert data_tables == {"items"} and not public_tables


def test_schemas_are_refused_on_sqlite(database: Path) -> None:
    with SampleApi(Inventory(size=1)) as api:
        config = {
            **url_document(f"sqlite:///{database}", {"items": pipeline_config(api.url)}),
            "state_schema": "x",
        }
        with pytest.raises(batchsync.ConfigError, match="state_schema applies to PostgreSQL"):
            batchsync.run("items", config)


class _NulInKey:
    """Serves one item with a NUL byte at the end of its `item_id`, on every page that carries it."""

    def __init__(self, item_id: str) -> None:
        self.item_id = item_id

    def before_collection_response(self, _request: ApiRequest, response: Response) -> Response:
        payload = orjson.loads(response.body)
        for record in payload.get("items", []):
            if record["item_id"] == self.item_id:
                record["item_id"] += "\x00"
        return dataclasses.replace(response, body=orjson.dumps(payload))


@pytest.mark.parametrize("batch_rows", [50, 300], ids=["direct_insert", "copy"])
def test_a_nul_byte_in_a_primary_key_dead_letters_only_that_record(
    postgres_url: str, batch_rows: int
) -> None:
    with SampleApi(Inventory(size=300)) as api:
        bad = api.inventory.items()[7]["item_id"]
        api.settings.faults = _NulInKey(bad)
        pipeline = pipeline_config(api.url)  # pages of 200
        pipeline["db_batch_size"] = batch_rows  # 50: bound parameters; 200 and 100: COPY
        config = url_document(postgres_url, {"items": pipeline})

        first = batchsync.run("items", config)
        rerun = batchsync.run("items", config)

        expected = expected_rows(api.inventory)
    del expected[bad]
    assert first.status is RunStatus.PARTIAL and rerun.status is RunStatus.PARTIAL
    assert first.counts.created == 299 and rerun.counts.unchanged == 299
    assert table_rows_at(postgres_url) == expected
    letters = fetch_dicts(postgres_url, "SELECT key, record, error FROM batchsync_errors")
    assert len(letters) == 1, "the rerun replaced the entry rather than adding one"
    assert letters[0]["key"] == bad + "\\u0000"
    assert letters[0]["error"] == "column item_id: text contains a NUL byte, which PostgreSQL cannot store"
    assert orjson.loads(letters[0]["record"])["item_id"] == bad + "\x00"


def test_a_nul_byte_in_a_key_that_does_not_convert_is_a_dead_letter_on_both(database_url: str) -> None:
    with SampleApi(Inventory(size=120)) as api:
        bad = api.inventory.items()[3]["item_id"]
        api.settings.faults = _NulInKey(bad)
        pipeline = pipeline_config(api.url)
        pipeline["destination"]["columns"]["item_id"]["type"] = "integer"

        result = batchsync.run("items", url_document(database_url, {"items": pipeline}))

        expected = {int(item["item_id"]) for item in api.inventory.items()} - {int(bad)}
    assert result.status is RunStatus.PARTIAL and result.counts.created == 119
    assert {key for (key,) in fetch_all(database_url, "SELECT item_id FROM items")} == expected
    (letter,) = fetch_dicts(database_url, "SELECT key, error FROM batchsync_errors")
    assert letter["key"] == bad + "\\u0000"
    assert "\x00" not in letter["error"] and "column 'item_id': cannot convert" in letter["error"]


def test_a_run_stopped_by_a_nul_byte_in_a_key_is_recorded_as_failed(postgres_url: str) -> None:
    with SampleApi(Inventory(size=10)) as api:
        bad = api.inventory.items()[3]["item_id"]
        api.settings.faults = _NulInKey(bad)
        pipeline = {**pipeline_config(api.url), "on_record_error": "fail"}

        result = batchsync.run("items", url_document(postgres_url, {"items": pipeline}))

    (run,) = fetch_dicts(postgres_url, "SELECT status, error FROM batchsync_runs")
    assert result.status is RunStatus.FAILED and run["status"] == "failed"
    assert run["error"] == (
        f"record {bad}\\u0000: column item_id: text contains a NUL byte, which PostgreSQL cannot store"
    )
