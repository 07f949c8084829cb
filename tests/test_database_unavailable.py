"""A database that stays locked, down or full: the run ends within its bound, says why first, exits 1
when batches were committed, and the next run closes the record it could not finish and resumes.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from batchsync.cli import app
from batchsync.database import open_database
from batchsync.state.tables import ensure_state_tables
from fakeapi import Inventory, SampleApi
from syncsupport import (
    assert_table_at_equals_source,
    assert_table_equals_source,
    fetch_all,
    pipeline_config,
    url_document,
    write_config,
)

runner = CliRunner(env={"COLUMNS": "250"})


def slow_pipeline(api: SampleApi) -> dict[str, Any]:
    """Fifty records a page and a commit per page, slowly enough to step in between two batches."""
    api.settings.latency_seconds = 0.05
    pipeline = pipeline_config(api.url)
    pipeline["source"]["paginator"]["page_size"] = 50
    pipeline["db_batch_size"] = 50
    return pipeline


class Sync:
    """`batchsync run items` in its own process, its stdout and stderr read as one stream, in order."""

    def __init__(self, config_file: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "batchsync", "run", "items", "-c", str(config_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "250"},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.decode(errors="replace").rstrip())

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_output(self, text: str, timeout_seconds: float = 60) -> None:
        deadline = time.monotonic() + timeout_seconds
        while text not in self.output:
            assert self.process.poll() is None and time.monotonic() < deadline, self.output
            time.sleep(0.01)

    def wait(self, timeout_seconds: float) -> int:
        code = self.process.wait(timeout=timeout_seconds)
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def wait_for_committed_rows(url: str, sync: Sync, rows: int = 100) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert sync.process.poll() is None and time.monotonic() < deadline, sync.output
        try:
            if fetch_all(url, "SELECT count(*) FROM items")[0][0] >= rows:
                return
        except Exception:  # the table is not there yet (or PostgreSQL refuses: see the caller)
            pass
        time.sleep(0.01)


def test_a_lock_held_past_the_end_of_a_run_ends_it_quickly_with_the_real_error_first(tmp_path: Path) -> None:
    database = tmp_path / "sync.db"
    url = f"sqlite:///{database}?timeout=1"  # the busy timeout, and so the bookkeeping budget: 1 s
    with SampleApi(Inventory(size=1_000)) as api:
        config_file = write_config(tmp_path / "c.yaml", url_document(url, {"items": slow_pipeline(api)}))
        sync = Sync(config_file)
        try:
            wait_for_committed_rows(f"sqlite:///{database}", sync)
            locker = sqlite3.connect(database, isolation_level=None)
            locker.execute("BEGIN IMMEDIATE")  # another program takes the write lock and keeps it
            locked_at = time.monotonic()

            code = sync.wait(timeout_seconds=60)
            seconds_locked = time.monotonic() - locked_at
        finally:
            sync.kill()
        with sqlite3.connect(database) as connection:
            (committed,) = connection.execute("SELECT count(*) FROM items").fetchone()
            (status,) = connection.execute("SELECT status FROM batchsync_runs").fetchone()
        locker.rollback()
        locker.close()
        api.settings.latency_seconds = 0
        pages_before = len(api.requests)

        rerun = runner.invoke(app, ["run", "items", "-c", str(config_file)])

        output = sync.output
        assert seconds_locked < 10, f"1 s for the batch, 1 s for the bookkeeping, not minutes\n{output}"
        assert code == 1, f"batches were committed before the lock\n{output}"
        real_error = output.index("cannot commit a batch: database is locked")
        assert real_error < output.index("cannot record the run's end"), output
        assert "refused" not in output, output
        assert status == "running", "the run could not record its end"
        assert rerun.exit_code == 0, rerun.output
        assert_table_equals_source(database, api.inventory)
        rerun_pages = [request.query["page"] for request in api.requests[pages_before:]]
        assert "1" not in rerun_pages, f"the rerun resumed from the checkpoint: {rerun_pages}"
        with sqlite3.connect(database) as connection:
            closed = connection.execute(
                "SELECT status, error, finished_at FROM batchsync_runs ORDER BY started_at"
            ).fetchall()
        assert [row[0] for row in closed] == ["failed", "succeeded"]
        assert f"its batches committed {committed:,} records" in closed[0][1]
        assert closed[0][2] is not None


def test_postgresql_down_at_the_end_of_a_run_says_why_first_and_records_the_end_when_back(
    postgres_server: Any, postgres_url: str, tmp_path: Path
) -> None:
    with SampleApi(Inventory(size=1_000)) as api:
        config_file = write_config(
            tmp_path / "c.yaml", url_document(postgres_url, {"items": slow_pipeline(api)})
        )
        sync = Sync(config_file)
        try:
            wait_for_committed_rows(postgres_url, sync)
            postgres_server.pause()
            try:
                sync.wait_for_output("cannot record the run's end yet")
            finally:
                postgres_server.resume()
            code = sync.wait(timeout_seconds=60)
        finally:
            sync.kill()
        api.settings.latency_seconds = 0

        rerun = runner.invoke(app, ["run", "items", "-c", str(config_file)])

        output = sync.output
        assert code == 1, f"batches were committed before the outage\n{output}"
        first_error = next(line for line in sync.lines if "ERROR" in line or "error:" in line)
        assert "items failed: " in first_error, output
        assert output.index("items failed: ") < output.index("cannot record the run's end yet"), output
        runs = fetch_all(postgres_url, "SELECT status, error FROM batchsync_runs ORDER BY started_at")
        assert runs[0][0] == "failed" and runs[0][1], "the end was recorded once the server was back"
        assert fetch_all(postgres_url, "SELECT count(*) FROM batchsync_leases") == [(0,)]
        assert rerun.exit_code == 0, rerun.output
        assert_table_at_equals_source(postgres_url, api.inventory)


def test_a_disk_that_fills_up_mid_run_says_disk_full_and_exits_1(tiny_disk: Path) -> None:
    database = tiny_disk / "sync.db"
    with SampleApi(Inventory(size=2_000)) as api:
        pipeline = pipeline_config(api.url)
        pipeline["db_batch_size"] = 100
        config_file = write_config(
            tiny_disk.parent / "c.yaml", url_document(f"sqlite:///{database}?timeout=1", {"items": pipeline})
        )

        result = runner.invoke(app, ["run", "items", "-c", str(config_file)])

    output = result.output.replace("\n", " ")
    assert result.exit_code == 1, output
    assert "error: cannot commit a batch: disk full" in output or "failed: disk full" in output, output
    assert "refused" not in output and "disk I/O error" not in output, output


def test_a_full_disk_at_open_says_disk_full_not_disk_io_error(tiny_disk: Path) -> None:
    database = tiny_disk / "sync.db"
    config_file = write_config(
        tiny_disk.parent / "c.yaml",
        url_document(f"sqlite:///{database}", {"items": pipeline_config("http://127.0.0.1:9")}),
    )
    engine = open_database(f"sqlite:///{database}")  # made by batchsync while there was room
    ensure_state_tables(engine)
    engine.dispose()
    fill(tiny_disk / "filler")

    result = runner.invoke(app, ["run", "items", "-c", str(config_file)])

    output = result.output.replace("\n", " ")
    assert result.exit_code == 2, output
    assert f"disk full: no space left on the disk that holds {database}" in output, output


def fill(path: Path) -> None:
    """Write to `path` until the disk holding it has no room left."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(descriptor, b"x" * 512)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Any:
    """A 256 KiB tmpfs (needs root and mount(8)); skips where it cannot be mounted."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_run_stopped_while_postgresql_is_down_still_reports_and_exits_130(
    postgres_server: Any, postgres_url: str, tmp_path: Path
) -> None:
    with SampleApi(Inventory(size=1_000)) as api:
        config_file = write_config(
            tmp_path / "c.yaml", url_document(postgres_url, {"items": slow_pipeline(api)})
        )
        sync = Sync(config_file)
        try:
            wait_for_committed_rows(postgres_url, sync)
            api.settings.latency_seconds = 10  # the next page keeps the run waiting, with no batch to write
            time.sleep(0.5)  # the page in flight is written before the server goes
            postgres_server.pause()
            try:
                sync.process.send_signal(signal.SIGTERM)
                sync.wait_for_output("cannot record the run's end yet")
            finally:
                postgres_server.resume()
            code = sync.wait(timeout_seconds=60)
        finally:
            sync.kill()

    output = sync.output
    assert code == 130, output
    assert "items: cancelled" in output and "pass not complete" in output, output
    assert fetch_all(postgres_url, "SELECT status FROM batchsync_runs") == [("cancelled",)]
