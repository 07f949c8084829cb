"""Only one run of a pipeline at a time: a second run is refused with the first's id and start time, the
first is unharmed, and a lease left by a killed run does not block the next one."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

import batchsync
from batchsync.cli import app
from batchsync.models import RunStatus
from batchsync.sampleapi import Inventory, SampleApi
from syncsupport import assert_table_equals_source, config_document, pipeline_config, write_config

runner = CliRunner(env={"COLUMNS": "250"})


def slow_setup(tmp_path: Path, api: SampleApi, lease_seconds: float = 60) -> tuple[Path, Path]:
    database = tmp_path / "sync.db"
    pipeline = {**pipeline_config(api.url), "lease_seconds": lease_seconds}
    pipeline["source"]["paginator"]["page_size"] = 50
    api.settings.latency_seconds = 0.03
    return write_config(tmp_path / "c.yaml", config_document(database, {"items": pipeline})), database


def wait_until_fetching(api: SampleApi, process: subprocess.Popen[bytes], pages: int = 3) -> None:
    deadline = time.monotonic() + 30
    while len(api.requests) < pages:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)


def test_a_second_run_is_refused_naming_the_first_which_finishes_unharmed(tmp_path: Path) -> None:
    with SampleApi(Inventory(size=1_000)) as api:
        config_file, database = slow_setup(tmp_path, api)
        first = subprocess.Popen(
            [sys.executable, "-m", "batchsync", "run", "items", "-c", str(config_file), "-q"]
        )
        wait_until_fetching(api, first)

        second = runner.invoke(app, ["run", "items", "-c", str(config_file)])

        assert first.wait(timeout=60) == 0
        with sqlite3.connect(database) as connection:
            run_id, started_at, status = connection.execute(
                "SELECT run_id, started_at, status FROM batchsync_runs"
            ).fetchone()
        assert second.exit_code == 2
        output = second.output.replace("\n", " ")
        assert f"run {run_id}" in output and started_at[:19].replace("T", " ") in output
        assert status == "succeeded", "the refused run recorded nothing and disturbed nothing"
        assert_table_equals_source(database, api.inventory)


def test_the_lease_of_a_killed_run_on_this_host_is_taken_over_at_once(tmp_path: Path) -> None:
    with SampleApi(Inventory(size=1_000)) as api:
        config_file, database = slow_setup(tmp_path, api)
        process = subprocess.Popen(
            [sys.executable, "-m", "batchsync", "run", "items", "-c", str(config_file), "-q"]
        )
        wait_until_fetching(api, process)
        process.kill()
        process.wait()
        api.settings.latency_seconds = 0

        result = runner.invoke(app, ["run", "items", "-c", str(config_file)])

        assert result.exit_code == 0, result.output
        assert_table_equals_source(database, api.inventory)


def test_a_lease_held_elsewhere_expires_after_lease_seconds(tmp_path: Path) -> None:
    with SampleApi(Inventory(size=200)) as api:
        config_file, database = slow_setup(tmp_path, api, lease_seconds=2.0)
        config = batchsync.load_config(config_file)
        assert batchsync.run("items", config).status is RunStatus.SUCCEEDED
        with sqlite3.connect(database) as connection:  # a run on another machine that stopped beating
            now = datetime.now(UTC).isoformat(timespec="microseconds")
            connection.execute(
                "INSERT INTO batchsync_leases VALUES ('items', 'run-on-host-b', 'host-b', 4242, ?, ?)",
                (now, now),
            )

        refused = runner.invoke(app, ["run", "items", "-c", str(config_file)])
        time.sleep(2.2)
        taken_over = runner.invoke(app, ["run", "items", "-c", str(config_file)])

        assert refused.exit_code == 2 and "run-on-host-b" in refused.output and "host-b" in refused.output
        assert taken_over.exit_code == 0, taken_over.output
