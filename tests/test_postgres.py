"""The same guarantees on a real PostgreSQL server: exact reconciliation of every paginator style, true
counts, native column types, one run at a time, a server restart mid-sync, and schema evolution. The
`database_url` fixture runs the shared cases on SQLite too."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

import batchsync
from batchsync.models import RunStatus
from batchsync.sampleapi import Inventory, SampleApi
from syncsupport import STYLES, assert_table_at_equals_source, pipeline_config, url_document, write_config


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
