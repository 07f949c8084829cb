"""Only one run of a pipeline at a time: a second run is refused with the first's id and start time, the
first is unharmed, and a lease left by a killed run does not block the next one: not when the killed run
is a zombie its parent has not reaped, nor when its pid now belongs to another process."""

from __future__ import annotations

import os
import signal
import socket
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
from batchsync.state.processes import read_stat, start_ticks
from fakeapi import Inventory, SampleApi
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
                "INSERT INTO batchsync_leases (pipeline, run_id, host, pid, started_at, heartbeat_at)"
                " VALUES ('items', 'run-on-host-b', 'host-b', 4242, ?, ?)",
                (now, now),
            )

        refused = runner.invoke(app, ["run", "items", "-c", str(config_file)])
        time.sleep(2.2)
        taken_over = runner.invoke(app, ["run", "items", "-c", str(config_file)])

        assert refused.exit_code == 2 and "run-on-host-b" in refused.output and "host-b" in refused.output
        assert taken_over.exit_code == 0, taken_over.output


# A parent that starts the sync and waits for it, like a supervisor or `timeout -s KILL` would.
SUPERVISOR = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-m", "batchsync", "run", "items", "-c", sys.argv[1], "-q"])
print(child.pid, flush=True)
child.wait()
"""


def wait_for_a_committed_batch(database: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None and time.monotonic() < deadline
        try:
            with sqlite3.connect(database) as connection:
                if connection.execute("SELECT count(*) FROM items").fetchone()[0]:
                    return
        except sqlite3.OperationalError:  # the table is not there yet
            pass
        time.sleep(0.01)


def test_a_run_killed_with_its_parent_is_taken_over_at_once_while_still_a_zombie(tmp_path: Path) -> None:
    with SampleApi(Inventory(size=1_000)) as api:
        config_file, database = slow_setup(tmp_path, api)
        supervisor = subprocess.Popen(
            [sys.executable, "-c", SUPERVISOR, str(config_file)], stdout=subprocess.PIPE
        )
        try:
            assert supervisor.stdout is not None
            run_pid = int(supervisor.stdout.readline())
            wait_for_a_committed_batch(database, supervisor)
            # Stopped, the parent cannot reap its killed child: the run stays a zombie, deterministically.
            os.kill(supervisor.pid, signal.SIGSTOP)
            deadline = time.monotonic() + 10
            # kill() returns before the stop takes effect: a parent still running could reap at once.
            while (parent := read_stat(supervisor.pid)) is not None and parent.state != "T":
                assert time.monotonic() < deadline, parent
                time.sleep(0.005)
            os.kill(run_pid, signal.SIGKILL)
            while (stat := read_stat(run_pid)) is not None and stat.state != "Z":
                assert time.monotonic() < deadline, stat
                time.sleep(0.005)
            assert stat is not None, "the stopped parent cannot have reaped its child"
            pages_before = len(api.requests)
            api.settings.latency_seconds = 0

            result = runner.invoke(app, ["run", "items", "-c", str(config_file)])

            if sys.platform.startswith("linux"):
                assert read_stat(run_pid) is not None, "the killed run was a zombie during the rerun"
        finally:
            os.kill(supervisor.pid, signal.SIGKILL)
            supervisor.wait()
        assert result.exit_code == 0, result.output
        assert_table_equals_source(database, api.inventory)
        rerun_pages = [request.query["page"] for request in api.requests[pages_before:]]
        assert "1" not in rerun_pages, f"the rerun resumed from the checkpoint, not page 1: {rerun_pages}"
        with sqlite3.connect(database) as connection:
            statuses = sorted(status for (status,) in connection.execute("SELECT status FROM batchsync_runs"))
        assert statuses == ["failed", "succeeded"], "the killed run's record was closed"


def test_a_lease_whose_pid_now_belongs_to_another_process_is_taken_over_at_once(tmp_path: Path) -> None:
    with SampleApi(Inventory(size=200)) as api:
        config_file, database = slow_setup(tmp_path, api)
        config = batchsync.load_config(config_file)
        assert batchsync.run("items", config).status is RunStatus.SUCCEEDED
        other = subprocess.Popen(["sleep", "60"])  # an unrelated process that got the dead holder's pid
        try:
            ticks = start_ticks(other.pid)
            with sqlite3.connect(database) as connection:  # a fresh lease, as if its holder died just now
                now = datetime.now(UTC).isoformat(timespec="microseconds")
                connection.execute(
                    "INSERT INTO batchsync_leases (pipeline, run_id, host, pid, started_at, heartbeat_at,"
                    " process_start_ticks) VALUES ('items', 'dead-run', ?, ?, ?, ?, ?)",
                    (socket.gethostname(), other.pid, now, now, None if ticks is None else ticks - 1),
                )

            result = runner.invoke(app, ["run", "items", "-c", str(config_file)])
        finally:
            other.kill()
            other.wait()

        if ticks is None:  # no /proc: a live pid is taken for the holder, as before
            assert result.exit_code == 2 and "dead-run" in result.output
        else:
            assert result.exit_code == 0, result.output
