"""`writer_process`: a pull's batches routed and committed by a second process while the run fetches.

Whatever writes them, the outcome is the same: the exact table, the same counts, dead letters (records
that do not map, rows the database refuses), run rows and checkpoints as when the run writes them itself,
on SQLite and PostgreSQL; `on_record_error: fail` stops at the same record; a stop leaves the checkpoint
after the last committed batch; a `kill -9` of the run takes its writer process with it and the rerun
ends exact; and a writer process that cannot start leaves the run to write its batches itself.
"""

from __future__ import annotations

import collections
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import batchsync
from batchsync.database import open_database
from batchsync.engine.options import Progress
from batchsync.models import RunResult, RunStatus
from batchsync.state import checkpoints
from fakeapi import Inventory, SampleApi, choose_poison
from syncsupport import (
    assert_table_at_equals_source,
    config_document,
    create_table_with_a_price_check,
    expected_rows,
    fetch_dicts,
    pipeline_config,
    table_rows_at,
    url_document,
    write_config,
)

TAKES_OVER = "a writer process writes the batches"


def pull(api: SampleApi, database_url: str, writer_process: str, **settings: Any) -> dict[str, Any]:
    pipeline = pipeline_config(api.url, settings.pop("style", "page_number_has_more"))
    paginator = pipeline["source"]["paginator"]
    paginator["limit" if "limit" in paginator else "page_size"] = settings.pop("page_size", 50)
    pipeline |= {
        "writer_process": writer_process,
        "db_batch_size": settings.pop("db_batch_size", 20),
        **settings,
    }
    return url_document(database_url, {"items": pipeline})


def run_rows(database_url: str) -> list[dict[str, Any]]:
    columns = "status, created, updated, unchanged, failed, pages, api_calls, is_pass_complete"
    return fetch_dicts(database_url, f"SELECT {columns} FROM batchsync_runs ORDER BY started_at")


def outcome(result: RunResult, *, batches: bool = True) -> tuple[Any, ...]:
    """What a run did, bar its API calls (pages fetched ahead past the end vary with timing) and the
    details of PostgreSQL's refusals after their first line (the failing row, with its sync time).
    `batches`: with its transactions' count (a writer process commits the pages waiting for it together
    while they fit in `db_batch_size`, so with whole pages it commits fewer)."""
    letters = sorted((letter.key or "", letter.error.split("\n")[0]) for letter in result.dead_letters)
    committed = result.committed_batches if batches else None
    return result.status, result.counts, result.pages, committed, letters


# Batches of 20 records cut each page of 50 into chunks, which travel as records written out again;
# batches of 1,000 leave each page whole, which travels as the page's own body.
BATCH_SIZES = pytest.mark.parametrize("db_batch_size", [20, 1_000], ids=["chunks", "whole-pages"])


@BATCH_SIZES
@pytest.mark.parametrize("style", ["page_number_has_more", "offset_total", "cursor_in_body"])
def test_a_writer_process_ends_with_the_exact_table_and_takes_over_from_the_first_page(
    style: str, db_batch_size: int, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with SampleApi(Inventory(size=1_234)) as api, caplog.at_level(logging.INFO, "batchsync.engine"):
        config = pull(api, database_url, "always", style=style, db_batch_size=db_batch_size)
        result = batchsync.run("items", config)
        assert_table_at_equals_source(database_url, api.inventory)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.counts.created == 1_234 and result.is_pass_complete
    assert any(TAKES_OVER in message for message in caplog.messages)
    [row] = run_rows(database_url)
    assert (row["status"], row["created"], row["api_calls"]) == ("succeeded", 1_234, result.api_calls)


@pytest.fixture
def second_url(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """Another empty database of the same kind as `database_url`."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'second.db'}"
        return
    with request.getfixturevalue("postgres_server").fresh_database() as url:
        yield url


@BATCH_SIZES
def test_poison_and_refused_rows_come_out_the_same_whoever_writes(
    db_batch_size: int, database_url: str, second_url: str
) -> None:
    """Dead letters from mapping and from the database (a trigger or CHECK refusing negative prices),
    then a second run that updates some rows: results, tables and run rows match a run writing itself."""
    kinds = ("missing_key", "bad_integer", "bad_decimal", "bad_datetime", "negative_price")
    seen: dict[str, tuple[Any, ...]] = {}
    for setting, url in (("never", second_url), ("always", database_url)):
        inventory = Inventory(size=2_000)
        poison = choose_poison(inventory, fraction=0.01, seed=5, kinds=kinds)
        with SampleApi(inventory) as api:
            config = pull(api, url, setting, db_batch_size=db_batch_size)
            create_table_with_a_price_check(config)
            api.settings.poison = poison
            first = batchsync.run("items", config)
            inventory.update(50, rng_seed=9)
            second = batchsync.run("items", config, full_refresh=True)
        runs = [{k: v for k, v in row.items() if k != "api_calls"} for row in run_rows(url)[-2:]]
        chunks = db_batch_size < 50  # pages of 50 cut into chunks, which are never joined together
        seen[setting] = (
            outcome(first, batches=chunks),
            outcome(second, batches=chunks),
            table_rows_at(url),
            runs,
        )
        healthy = {key: row for key, row in expected_rows(inventory).items() if key not in poison}

    assert seen["always"] == seen["never"]
    first_outcome = seen["always"][0]
    assert first_outcome[0] is RunStatus.PARTIAL and first_outcome[1].created == 2_000 - 20
    assert seen["always"][1][1].updated > 0
    assert seen["always"][2] == healthy


def test_on_record_error_fail_stops_at_the_same_record_with_the_batches_before_it_committed(
    database_url: str,
) -> None:
    inventory = Inventory(size=1_000)
    bad_id = inventory.items()[613]["item_id"]
    with SampleApi(inventory) as api:
        api.settings.poison = {bad_id: "bad_integer"}
        result = batchsync.run("items", pull(api, database_url, "always", on_record_error="fail"))
        stored = table_rows_at(database_url)
    engine = open_database(database_url)
    with engine.connect() as connection:
        checkpoint = checkpoints.load(connection, "items")
    engine.dispose()

    assert result.status is RunStatus.FAILED and bad_id in (result.error or "")
    # Pages of 50 in batches of 20: record 613 is in page 13's batch of records 600..619.
    assert set(stored) == {item["item_id"] for item in inventory.items()[:600]}
    assert checkpoint is not None and (checkpoint.cursor, checkpoint.skip_records) == (13, 0)
    [row] = run_rows(database_url)
    assert (row["status"], row["created"]) == ("failed", 600)


def test_a_stop_leaves_the_checkpoint_after_the_last_batch_committed_and_a_rerun_ends_exact(
    database: Path,
) -> None:
    with SampleApi(Inventory(size=3_000)) as api:
        api.settings.latency_seconds = 0.005
        config = pull(api, f"sqlite:///{database}", "always")
        stop, seen = threading.Event(), list[Progress]()

        def stop_after_twelve_batches(progress: Progress) -> None:
            seen.append(progress)
            if len(seen) == 12:
                stop.set()

        stopped = batchsync.run("items", config, stop=stop, on_progress=stop_after_twelve_batches)
        committed = len(table_rows_at(f"sqlite:///{database}"))
        engine = open_database(f"sqlite:///{database}")
        with engine.connect() as connection:
            checkpoint = checkpoints.load(connection, "items")
        engine.dispose()
        rerun = batchsync.run("items", config)
        assert_table_at_equals_source(f"sqlite:///{database}", api.inventory)

    assert stopped.status is RunStatus.CANCELLED and not stopped.is_pass_complete
    assert checkpoint is not None and checkpoint.pass_records == committed == stopped.counts.created
    assert len(seen) == stopped.committed_batches, "one progress report per batch committed, no more"
    assert seen[-1].pass_records == committed
    assert rerun.status is RunStatus.SUCCEEDED and rerun.counts.created == 3_000 - committed


def writer_processes_of(pid: int) -> list[int]:
    """The writer processes whose parent is `pid`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"batchsync.engine.offload.child" in cmdline:
            found.append(int(entry.name))
    return found


def is_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_of_the_run_takes_its_writer_process_with_it_and_the_rerun_ends_exact(tmp_path: Path) -> None:
    database = tmp_path / "sync.db"
    with SampleApi(Inventory(size=4_000)) as api:
        api.settings.latency_seconds = 0.005
        config_file = write_config(
            tmp_path / "batchsync.yaml", config_document(database, pull(api, "", "always")["pipelines"])
        )
        command = [sys.executable, "-m", "batchsync", "run", "items", "-c", str(config_file), "--quiet"]
        for _ in range(3):
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 60
            while not (writers := writer_processes_of(process.pid)) or len(api.requests) < 20:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "no writer process started"
                time.sleep(0.01)
            time.sleep(0.05)
            process.kill()
            process.wait()
            deadline = time.monotonic() + 10
            while not all(is_gone(writer) for writer in writers):
                assert time.monotonic() < deadline, "the writer process outlived its run"
                time.sleep(0.01)

        final = subprocess.run(command, capture_output=True, timeout=180)

        assert final.returncode == 0, final.stderr.decode()
        assert_table_at_equals_source(f"sqlite:///{database}", api.inventory)
        pages = collections.Counter(
            r.query.get("page", "1") for r in api.requests if r.path.endswith("/items")
        )
    refetched = sum(count - 1 for page, count in pages.items() if int(page) <= 4_000 // 50)
    assert refetched <= (4 + 1) * 3, "per kill, at most the chunks handed over and the pages in flight"
    created = sum(row["created"] for row in run_rows(f"sqlite:///{database}"))
    assert created == 4_000, "each run's row counts exactly the rows its batches committed"


def test_a_writer_process_that_cannot_start_leaves_the_run_to_write_itself(
    database: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sys, "executable", os.devnull)  # no interpreter to start it with
    with SampleApi(Inventory(size=500)) as api, caplog.at_level(logging.INFO, "batchsync.engine"):
        result = batchsync.run("items", pull(api, f"sqlite:///{database}", "always"))
        assert_table_at_equals_source(f"sqlite:///{database}", api.inventory)

    assert result.status is RunStatus.SUCCEEDED and result.counts.created == 500
    assert not any(TAKES_OVER in message for message in caplog.messages)
    assert any("no writer process" in message for message in caplog.messages)


def test_auto_leaves_a_short_pass_to_the_run_itself(database: Path, caplog: pytest.LogCaptureFixture) -> None:
    with SampleApi(Inventory(size=400)) as api, caplog.at_level(logging.INFO, "batchsync.engine"):
        result = batchsync.run("items", pull(api, f"sqlite:///{database}", "auto"))  # 8 pages

    assert result.status is RunStatus.SUCCEEDED and result.counts.created == 400
    assert not any(TAKES_OVER in message for message in caplog.messages)


def test_auto_hands_a_long_pass_over_after_its_first_pages(
    database: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # 200 pages from an API that answers at once, one page at a time: the pass's own work is what it
    # waits for, and it outlasts the writer process's start (about half a second) by far.
    with SampleApi(Inventory(size=60_000)) as api, caplog.at_level(logging.INFO, "batchsync.engine"):
        config = pull(api, f"sqlite:///{database}", "auto", page_size=300, concurrency=1)
        result = batchsync.run("items", config)
        assert_table_at_equals_source(f"sqlite:///{database}", api.inventory)

    assert result.status is RunStatus.SUCCEEDED and result.counts.created == 60_000
    if (os.cpu_count() or 1) > 1:
        [taken_over] = [message for message in caplog.messages if TAKES_OVER in message]
        assert int(taken_over.rsplit("page ", 1)[1].split()[0]) > 20, "the first 20 pages written here"


def test_auto_leaves_a_pass_that_waits_for_the_api_to_the_run_itself(
    database: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # 150 pages of 10 ms, each waited for: writing is not what holds the pass up. (Without that check a
    # writer process started at page 20 would be ready, in about half a second, well before the end.)
    with SampleApi(Inventory(size=7_500)) as api, caplog.at_level(logging.INFO, "batchsync.engine"):
        api.settings.latency_seconds = 0.01
        result = batchsync.run("items", pull(api, f"sqlite:///{database}", "auto", concurrency=1))

    assert result.status is RunStatus.SUCCEEDED and result.counts.created == 7_500
    assert not any(TAKES_OVER in message for message in caplog.messages)
