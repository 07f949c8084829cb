"""Cancelling a running run through its row in `batchsync_runs`: from this process or from a CLI in
another one, the running run stops at a batch boundary with its checkpoint saved and status cancelled,
and the next run finishes the pass exactly; on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

import batchsync
from batchsync import operations
from batchsync.cli import app
from batchsync.models import RunResult, RunStatus
from batchsync.state.cancels import CANCELLED_ON_REQUEST, CancelOutcome
from fakeapi import Inventory, SampleApi
from syncsupport import assert_table_at_equals_source, fetch_all, pipeline_config, url_document, write_config

runner = CliRunner(env={"COLUMNS": "200"})


def slow_pull(api: SampleApi, database_url: str) -> dict[str, Any]:
    """250 pages one at a time, 30 ms each: a run of several seconds, long enough to cancel."""
    api.settings.latency_seconds = 0.03
    pipeline = pipeline_config(api.url)
    pipeline["source"]["paginator"]["page_size"] = 20
    pipeline["concurrency"] = 1
    return url_document(database_url, {"items": pipeline})


def wait_for_running_run(database_url: str, timeout: float = 20.0) -> str:
    """The id of the pipeline's running run, once its row shows a committed batch."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            rows = fetch_all(
                database_url, "SELECT run_id FROM batchsync_runs WHERE status = 'running' AND created > 0"
            )
        except Exception:  # the tables are not made yet
            rows = []
        if rows:
            return str(rows[0][0])
        time.sleep(0.02)
    raise AssertionError("no run started committing batches")


def test_a_cancel_request_stops_a_running_pull_with_its_checkpoint_and_a_rerun_completes(
    database_url: str,
) -> None:
    inventory = Inventory(size=5_000)
    with SampleApi(inventory) as api:
        config = slow_pull(api, database_url)
        outcome: list[RunResult] = []
        worker = threading.Thread(target=lambda: outcome.append(batchsync.run("items", config)))
        worker.start()
        run_id = wait_for_running_run(database_url)

        answer = operations.cancel(run_id, config)
        asked_at = time.monotonic()
        worker.join(timeout=30)
        stopped_after = time.monotonic() - asked_at

        assert answer.outcome is CancelOutcome.REQUESTED
        result = outcome[0]
        assert result.status is RunStatus.CANCELLED
        assert result.error == CANCELLED_ON_REQUEST
        assert not result.is_pass_complete
        assert stopped_after < 3.0, "seen within a second, stopped at the next batch"
        [(status, requested_at, created, error)] = fetch_all(
            database_url, "SELECT status, cancel_requested_at, created, error FROM batchsync_runs"
        )
        [(rows,)] = fetch_all(database_url, "SELECT count(*) FROM items")
        assert (status, error) == ("cancelled", CANCELLED_ON_REQUEST) and requested_at is not None
        assert 0 < rows < 5_000 and created == rows, "stopped mid-pass; the row holds what was committed"
        [position] = operations.status("items", config)
        assert position.is_started and not position.is_complete and position.pass_records == rows

        api.settings.latency_seconds = 0.0
        finished = batchsync.run("items", config)
        assert finished.status is RunStatus.SUCCEEDED and finished.counts.created == 5_000 - rows
        assert_table_at_equals_source(database_url, inventory)
        assert operations.cancel(run_id, config).outcome is CancelOutcome.NOT_RUNNING
        assert operations.cancel("no-such-run", config).outcome is CancelOutcome.UNKNOWN


def test_batchsync_cancel_stops_a_run_started_by_the_cli_in_another_process(
    database_url: str, tmp_path: Path
) -> None:
    inventory = Inventory(size=5_000)
    with SampleApi(inventory) as api:
        config_file = write_config(tmp_path / "batchsync.yml", slow_pull(api, database_url))
        other = subprocess.Popen(
            [sys.executable, "-m", "batchsync", "run", "items", "--config", str(config_file), "--quiet"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            run_id = wait_for_running_run(database_url)
            cancelled = runner.invoke(app, ["cancel", run_id, "--config", str(config_file)])
            _, err = other.communicate(timeout=30)
        finally:
            other.kill()

        assert cancelled.exit_code == 0, cancelled.output
        assert "cancel requested" in cancelled.output
        assert other.returncode == 130, err.decode()
        [(status, error)] = fetch_all(database_url, "SELECT status, error FROM batchsync_runs")
        assert (status, error) == ("cancelled", CANCELLED_ON_REQUEST)

        again = runner.invoke(app, ["cancel", run_id, "--config", str(config_file)])
        unknown = runner.invoke(app, ["cancel", "no-such-run", "--config", str(config_file)])
        assert again.exit_code == 2 and "has ended (cancelled)" in again.output
        assert unknown.exit_code == 2 and "no run no-such-run" in unknown.output

        api.settings.latency_seconds = 0.0
        assert batchsync.run("items", config_file).status is RunStatus.SUCCEEDED
        assert_table_at_equals_source(database_url, inventory)
