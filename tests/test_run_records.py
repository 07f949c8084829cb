"""The run's row in `batchsync_runs` tells the truth at every moment: read in one statement with the data,
it holds exactly what the committed batches did (pull, lookup, a fan-out's concurrent children), and
another process sees a running run's progress through `batchsync status` and `batchsync runs`; on
SQLite and PostgreSQL."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner

import batchsync
from batchsync.cli import app
from batchsync.models import RunResult, RunStatus
from fakeapi import Inventory, KeyService, SampleApi
from syncsupport import fetch_all, pipeline_config, url_document, write_config
from test_fanout import expected_transactions, fanout_config, make_tables
from test_lookup import lookup_config, make_keys_table

runner = CliRunner(env={"COLUMNS": "200"})

Observation = tuple[Any, ...]


def observe_while_running(
    run: Callable[[], RunResult], database_url: str, snapshot_sql: str
) -> tuple[RunResult, list[Observation]]:
    """Run `run` in a thread and take `snapshot_sql` (one statement: one snapshot of the run's row and
    of the data) over and over until it ends; returns the result and every snapshot of a running run."""
    outcome: list[RunResult] = []
    worker = threading.Thread(target=lambda: outcome.append(run()))
    worker.start()
    seen: list[Observation] = []
    while worker.is_alive():
        try:
            rows = fetch_all(database_url, snapshot_sql)
        except Exception:  # the tables are not made yet
            rows = []
        seen += [row for row in rows if row[0] == "running"]
        time.sleep(0.005)
    worker.join()
    return outcome[0], seen


def test_a_running_pull_run_row_always_equals_its_committed_batches(database_url: str) -> None:
    with SampleApi(Inventory(size=1_500)) as api:
        api.settings.latency_seconds = 0.01
        pipeline = pipeline_config(api.url)
        pipeline["source"]["paginator"]["page_size"] = 50
        pipeline["db_batch_size"] = 25  # two batches a page: a page counts once, at its last batch
        config = url_document(database_url, {"items": pipeline})

        result, seen = observe_while_running(
            lambda: batchsync.run("items", config),
            database_url,
            "SELECT status, created, updated, unchanged, pages, api_calls,"
            " (SELECT count(*) FROM items) FROM batchsync_runs",
        )

    assert result.status is RunStatus.SUCCEEDED
    progressed = sorted({row[1] for row in seen if row[1] > 0})
    assert len(progressed) >= 3, f"the row moved while the run ran: {progressed}"
    for _, created, updated, unchanged, pages, api_calls, rows in seen:
        assert (created, updated, unchanged) == (rows, 0, 0), "the row holds exactly the committed rows"
        assert pages == rows // 50 and api_calls >= pages
    final = fetch_all(database_url, "SELECT created, pages, api_calls FROM batchsync_runs")
    assert final == [(1_500, 30, result.api_calls)]


def test_a_fanouts_row_adds_the_batches_of_its_concurrent_child_syncs(database_url: str) -> None:
    with SampleApi(Inventory(size=10)) as api:
        make_tables(database_url, api)
        config = fanout_config(database_url, api, concurrency=4)
        # One entity first, so the concurrent children find their table made (on PostgreSQL, children
        # that all create it at once collide: a separate problem, outside this test).
        batchsync.run("bank_sync", config, only=["u000"])
        (before,) = fetch_all(database_url, "SELECT count(*) FROM transactions")[0]
        api.settings.latency_seconds = 0.005

        result, seen = observe_while_running(
            lambda: batchsync.run("bank_sync", config),
            database_url,
            "SELECT status, created, failed, details, (SELECT count(*) FROM transactions)"
            " FROM batchsync_runs WHERE status = 'running'",
        )
        expected = len(expected_transactions(api))

    assert result.status is RunStatus.PARTIAL  # the revoked accounts fail their entities
    assert len({row[1] for row in seen if row[1] > 0}) >= 3
    for _, created, failed, _, rows in seen:
        assert (created, failed) == (rows - before, 0), "the row holds exactly the committed rows"
    positions = [orjson.loads(row[3])["position"] for row in seen if row[3]]
    assert positions and all(position["entities"] == 56 for position in positions)
    done = [position["entities_done"] for position in positions]
    assert done == sorted(done) and done[-1] > 0
    final = fetch_all(database_url, "SELECT created, unchanged FROM batchsync_runs ORDER BY started_at")
    assert final[-1] == (expected - before, before) == (result.counts.created, result.counts.unchanged)


def test_a_running_lookup_row_always_equals_its_committed_batches(database_url: str) -> None:
    with SampleApi(keys=KeyService(size=1_500, seed=4)) as api:
        make_keys_table(database_url, api, extra=["not-a-valid-key"])
        api.settings.latency_seconds = 0.03
        config = lookup_config(database_url, api)
        del config["pipelines"]["key_refresh"]["source"]["params"]  # the key service is open here

        result, seen = observe_while_running(
            lambda: batchsync.run("key_refresh", config),
            database_url,
            "SELECT r.status, r.updated + r.unchanged, r.failed, r.pages,"
            " (SELECT count(*) FROM product_keys WHERE _batchsync_seen_at IS NOT NULL),"
            " (SELECT count(*) FROM batchsync_errors e WHERE e.run_id = r.run_id)"
            " FROM batchsync_runs r",
        )

    assert result.status is RunStatus.PARTIAL and len(result.dead_letters) == 1
    assert len({row[1] for row in seen if row[1] > 0}) >= 3
    for _, refreshed, failed, pages, seen_rows, letters in seen:
        assert (refreshed, failed) == (seen_rows, letters)
        assert (pages > 0) == (refreshed + failed > 0)
    final = fetch_all(database_url, "SELECT updated + unchanged, failed, pages FROM batchsync_runs")
    assert final == [(result.total_synced, 1, result.pages)]


def test_status_and_runs_from_another_process_show_a_running_runs_live_progress(
    database_url: str, tmp_path: Path
) -> None:
    with SampleApi(Inventory(size=2_000)) as api:
        api.settings.latency_seconds = 0.05
        pipeline = pipeline_config(api.url)
        pipeline["source"]["paginator"]["page_size"] = 50
        pipeline["db_batch_size"] = 50
        pipeline["concurrency"] = 1  # a run slow enough to be watched, batch after batch, while it runs
        config_file = write_config(tmp_path / "c.yaml", url_document(database_url, {"items": pipeline}))
        sync = subprocess.Popen(
            [sys.executable, "-m", "batchsync", "run", "items", "-c", str(config_file), "--quiet"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            statuses, histories, tables = [], [], []
            deadline = time.monotonic() + 60
            while len({h[0]["created"] for h in histories}) < 2:
                assert sync.poll() is None, f"the run ended before it was seen: {sync.communicate()}"
                assert time.monotonic() < deadline, f"no progress seen: {histories[-1:]}"
                status = runner.invoke(app, ["status", "items", "-c", str(config_file), "--json"])
                history = runner.invoke(app, ["runs", "items", "-c", str(config_file), "--json"])
                if status.exit_code == 0 and history.exit_code == 0:
                    last_run = orjson.loads(status.stdout)[0]["last_run"]
                    runs = orjson.loads(history.stdout)
                    if last_run and runs and last_run["created"] > 0:
                        statuses.append(last_run)
                        histories.append(runs)
                        tables.append(runner.invoke(app, ["runs", "-c", str(config_file)]).output)
                        tables.append(runner.invoke(app, ["status", "-c", str(config_file)]).output)
                time.sleep(0.05)
        finally:
            sync.kill()
            sync.wait()

    assert all(last_run["status"] == "running" for last_run in statuses)
    assert [len(runs) for runs in histories] == [1] * len(histories)
    created = [runs[0]["created"] for runs in histories]
    assert created == sorted(created) and created[-1] > created[0] > 0
    assert all(runs[0]["status"] == "running" and runs[0]["api_calls"] > 0 for runs in histories)
    assert all(runs[0]["position"]["pass_records"] == runs[0]["created"] for runs in histories)
    assert all("running" in table for table in tables[::2]), "runs"
    assert all(re.search(r"running: [\d,]+ so far", table) for table in tables[1::2]), "status"
