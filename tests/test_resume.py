"""A sync killed at any moment (kill -9, Ctrl+C, SIGTERM) resumes exactly where it stopped: the table ends
equal to the source, and only the pages in flight at the kill (at most two) are fetched again. The run
history tells the same story: a killed run's row holds what its committed batches did."""

from __future__ import annotations

import collections
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from batchsync.cli import app
from fakeapi import Inventory, SampleApi
from syncsupport import assert_table_equals_source, config_document, pipeline_config, write_config

PAGES = 50
PAGE_SIZE = 100


@pytest.fixture
def slow_api() -> SampleApi:
    with SampleApi(Inventory(size=PAGES * PAGE_SIZE)) as server:
        server.settings.latency_seconds = 0.02
        yield server


def start_sync(config_file: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "batchsync", "run", "items", "--config", str(config_file), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for_page_requests(api: SampleApi, count: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while len(page_requests(api)) < count:
        assert process.poll() is None, f"sync ended early: {process.communicate()}"
        assert time.monotonic() < deadline, "sync made no progress"
        time.sleep(0.002)


def page_requests(api: SampleApi) -> list[str]:
    return [r.query.get("page", "1") for r in api.requests if r.path.endswith("/items")]


def refetched_pages(api: SampleApi) -> int:
    # No drift re-read of page 1 here: that check runs only for a pass started and ended in one run.
    counts = collections.Counter(page_requests(api))
    return sum(n - 1 for n in counts.values())


def make_config(tmp_path: Path, api: SampleApi, db_batch_size: int = 1000) -> tuple[Path, Path]:
    database = tmp_path / "sync.db"
    pipeline = pipeline_config(api.url, "page_number_has_more")
    pipeline["source"]["paginator"]["page_size"] = PAGE_SIZE
    pipeline["db_batch_size"] = db_batch_size
    # One page fetched ahead: the tests here hold the bounds of that (at most two pages fetched again per
    # kill, N requests = N - 1 pages committed); test_parallel_pages.py holds those of concurrency N.
    pipeline["concurrency"] = 1
    config_file = write_config(tmp_path / "batchsync.yaml", config_document(database, {"items": pipeline}))
    return config_file, database


@pytest.mark.parametrize("db_batch_size", [1000, 30], ids=["batch_per_page", "several_batches_per_page"])
def test_kill_9_at_several_points_then_rerun_ends_exact_refetching_at_most_two_pages_per_kill(
    tmp_path: Path, slow_api: SampleApi, db_batch_size: int
) -> None:
    config_file, database = make_config(tmp_path, slow_api, db_batch_size)
    kills = 0
    for kill_after in (2, 9, 17, 30, 44):
        process = start_sync(config_file)
        wait_for_page_requests(slow_api, kill_after, process)
        process.kill()  # SIGKILL: no handler, no cleanup
        process.wait()
        kills += 1

    final = subprocess.run(
        [sys.executable, "-m", "batchsync", "run", "items", "-c", str(config_file), "--quiet"],
        capture_output=True,
        timeout=120,
    )

    assert final.returncode == 0, final.stderr.decode()
    assert_table_equals_source(database, slow_api.inventory)
    assert set(page_requests(slow_api)) == {str(page) for page in range(1, PAGES + 1)}
    assert refetched_pages(slow_api) <= 2 * kills
    with sqlite3.connect(database) as connection:
        statuses = collections.Counter(s for (s,) in connection.execute("SELECT status FROM batchsync_runs"))
    assert statuses == {"failed": kills, "succeeded": 1}, "killed runs must be closed, not left running"
    with sqlite3.connect(database) as connection:
        (created,) = connection.execute("SELECT sum(created) FROM batchsync_runs").fetchone()
    assert created == PAGES * PAGE_SIZE, "each run's row counts exactly the rows its batches committed"


def test_after_kill_9_the_run_history_shows_what_the_committed_batches_did(
    tmp_path: Path, slow_api: SampleApi
) -> None:
    config_file, database = make_config(tmp_path, slow_api)
    process = start_sync(config_file)
    wait_for_page_requests(slow_api, 12, process)
    process.kill()
    process.wait()
    with sqlite3.connect(database) as connection:
        (rows,) = connection.execute("SELECT count(*) FROM items").fetchone()
        (state,) = connection.execute("SELECT state FROM batchsync_checkpoints").fetchone()
    requests_made = len(page_requests(slow_api))

    killed = orjson.loads(CliRunner().invoke(app, ["runs", "items", "-c", str(config_file), "--json"]).stdout)
    rerun = CliRunner().invoke(app, ["run", "items", "-c", str(config_file), "--quiet"])
    history = orjson.loads(
        CliRunner().invoke(app, ["runs", "items", "-c", str(config_file), "--json"]).stdout
    )

    assert rows >= 10 * PAGE_SIZE and len(killed) == 1
    (row,) = killed
    assert row["status"] == "running", "nothing has closed it yet"
    assert (row["created"], row["updated"], row["unchanged"]) == (rows, 0, 0)
    assert row["pages"] == rows // PAGE_SIZE
    assert row["pages"] <= row["api_calls"] <= requests_made
    assert row["position"]["pass_records"] == rows == orjson.loads(state)["pass_records"]
    assert row["position"]["cursor"] == orjson.loads(state)["cursor"]
    assert rerun.exit_code == 0, rerun.output
    assert [run["status"] for run in history] == ["succeeded", "failed"]
    closed = history[1]
    assert {key: closed[key] for key in ("created", "pages", "api_calls")} == {
        key: row[key] for key in ("created", "pages", "api_calls")
    }
    assert f"its batches committed {rows:,} records" in closed["error"]
    assert history[0]["created"] == PAGES * PAGE_SIZE - rows


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["ctrl_c", "sigterm"])
def test_interrupt_exits_130_with_the_checkpoint_saved_and_a_rerun_completes(
    tmp_path: Path, slow_api: SampleApi, signal_number: int
) -> None:
    config_file, database = make_config(tmp_path, slow_api)
    process = start_sync(config_file)
    wait_for_page_requests(slow_api, 12, process)

    os.kill(process.pid, signal_number)
    _, stderr = process.communicate(timeout=30)

    assert process.returncode == 130, stderr.decode()
    with sqlite3.connect(database) as connection:
        (state,) = connection.execute("SELECT state FROM batchsync_checkpoints").fetchone()
        (status,) = connection.execute("SELECT status FROM batchsync_runs").fetchone()
        (rows,) = connection.execute("SELECT count(*) FROM items").fetchone()
    assert status == "cancelled"
    assert '"is_complete":false' in state and rows >= 11 * PAGE_SIZE

    rerun = subprocess.run(
        [sys.executable, "-m", "batchsync", "run", "items", "-c", str(config_file), "--json"],
        capture_output=True,
        timeout=120,
    )

    assert rerun.returncode == 0, rerun.stderr.decode()
    assert_table_equals_source(database, slow_api.inventory)
    assert refetched_pages(slow_api) <= 2


def test_crash_loop_of_ten_kill_9s_at_random_moments_ends_exact(tmp_path: Path, slow_api: SampleApi) -> None:
    import random

    chooser = random.Random(20261122)
    config_file, database = make_config(tmp_path, slow_api, db_batch_size=40)
    for _ in range(10):
        process = start_sync(config_file)
        already = len(page_requests(slow_api))
        wait_for_page_requests(slow_api, already + chooser.randint(1, 6), process)
        time.sleep(chooser.uniform(0, 0.03))  # anywhere in the page's fetch / write, not just at its start
        process.kill()
        process.wait()

    final = subprocess.run(
        [sys.executable, "-m", "batchsync", "run", "items", "-c", str(config_file), "--quiet"],
        capture_output=True,
        timeout=120,
    )

    assert final.returncode == 0, final.stderr.decode()
    assert_table_equals_source(database, slow_api.inventory)
    assert refetched_pages(slow_api) <= 2 * 10
    with sqlite3.connect(database) as connection:
        (created,) = connection.execute("SELECT sum(created) FROM batchsync_runs").fetchone()
    assert created == PAGES * PAGE_SIZE, "each run's row counts exactly the rows its batches committed"
