"""A reader that closes the CLI's output early (`batchsync run items -v 2>&1 | head -8`) never stops the
sync: the run goes on to the end of its pass, its record and exit code are true, and a closed stdout is
said on stderr. Each test runs the real CLI in a subprocess whose pipe the test closes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from batchsync.cli_output import STDOUT_CLOSED_NOTICE
from fakeapi import Inventory, SampleApi
from syncsupport import assert_table_equals_source, config_document, pipeline_config, write_config

PAGES = 20


def slow_config(tmp_path: Path, api: SampleApi) -> tuple[Path, Path]:
    """A pass of 20 pages of 50 items at 30 ms each: long enough to close a pipe in the middle of it."""
    database = tmp_path / "sync.db"
    pipeline = pipeline_config(api.url)
    pipeline["source"]["paginator"]["page_size"] = 50
    api.settings.latency_seconds = 0.03
    return write_config(tmp_path / "c.yaml", config_document(database, {"items": pipeline})), database


def run_record(database: Path) -> tuple[str, int, str | None]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT status, created, error FROM batchsync_runs").fetchall()
        leases = connection.execute("SELECT count(*) FROM batchsync_leases").fetchone()[0]
    assert len(rows) == 1 and leases == 0, "one run, recorded, its lease released"
    status, created, error = rows[0]
    return status, created, error


def test_a_reader_closing_the_output_mid_pass_does_not_stop_the_sync(tmp_path: Path) -> None:
    with SampleApi(Inventory(size=1_000)) as api:
        config_file, database = slow_config(tmp_path, api)
        process = subprocess.Popen(
            [sys.executable, "-m", "batchsync", "run", "items", "-c", str(config_file), "-v"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # like `2>&1 | head -8`: the logs and the summary share the pipe
        )
        assert process.stdout is not None
        for _ in range(8):
            process.stdout.readline()
        process.stdout.close()
        pages_when_closed = len(api.requests)

        assert process.wait(timeout=60) == 0
        assert pages_when_closed < PAGES, "the pipe was closed in the middle of the pass"
        assert run_record(database) == ("succeeded", 1_000, None)
        assert_table_equals_source(database, api.inventory)


@pytest.mark.parametrize("output", ["text", "json"])
def test_a_closed_stdout_is_said_on_stderr_and_the_exit_code_is_the_runs(tmp_path: Path, output: str) -> None:
    with SampleApi(Inventory(size=1_000)) as api:
        config_file, database = slow_config(tmp_path, api)
        command = [sys.executable, "-m", "batchsync", "run", "items", "-c", str(config_file)]
        process = subprocess.Popen(
            [*command, *(["--json"] if output == "json" else [])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdout is not None
        process.stdout.close()  # like `| head -n 0`: the reader is gone before the summary is written

        _, stderr = process.communicate(timeout=60)

        assert process.returncode == 0
        text = stderr.decode()
        assert STDOUT_CLOSED_NOTICE in text
        assert "Traceback" not in text and "Exception ignored" not in text
        assert run_record(database) == ("succeeded", 1_000, None)
        assert_table_equals_source(database, api.inventory)
