"""Pull throughput into SQLite, side by side in one run: batchsync vs a hand-written sync loop vs the
fetch-and-parse ceiling vs a bare bulk load, all against the same sample API served from a separate
process.

    .venv/bin/python bench/pull_sqlite.py [--records 100000] [--page-size 200] [--repeat 3]

The hand-written loop is the service batchsync replaces: fetch a page, insert its rows one by one,
commit, then store the offset (a crash between the last two re-processes or skips a page). The load-only
job writes rows fetched and converted beforehand (not timed) the fastest plain way: WAL, one
`executemany` per page and the page number in the same transaction. Fetch-only plus load-only is the
serial limit: what a single thread doing both, with nothing else, would take. Each figure is the median
and the best of `--repeat` runs; ratios are of medians, against the hand-written loop and the serial limit.
"""

from __future__ import annotations

import argparse
import resource
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

import batchsync
from batchsync.demo import demo_config
from common import PAGE_NUMBER, SQLITE_TABLE, UPSERT, Row, fetch_only, item_row, seed_loop_sqlite, start_api


def fetch_only_job(url: str, page_size: int, _workdir: Path) -> int:
    """The ceiling: page through the API and parse JSON, storing nothing."""
    return fetch_only(url, page_size)


def hand_written(url: str, page_size: int, workdir: Path) -> int:
    """The loop teams write by hand: row-by-row upsert, commit, then save the offset."""
    return seed_loop_sqlite(url, page_size, workdir / "hand.db")


def fetch_rows(url: str, page_size: int) -> list[list[Row]]:
    """Every page's rows, converted as the hand-written loop converts them: the load-only job's input."""
    pages: list[list[Row]] = []
    with httpx.Client(base_url=url) as client:
        index = 0
        while True:
            body = orjson.loads(
                client.get(PAGE_NUMBER.path, params=PAGE_NUMBER.params(index, page_size)).content
            )
            pages.append([(*row[:5], int(row[5]), *row[6:]) for row in map(item_row, body["items"])])
            if not PAGE_NUMBER.has_more(body):
                return pages
            index += 1


def load_only(pages: list[list[Row]], workdir: Path) -> int:
    """The floor of the write side as batchsync must write: a page per transaction, `executemany`, the
    page number beside it (bench/common.py's `load_only_sqlite` is the one-transaction floor)."""
    connection = sqlite3.connect(workdir / "load.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute(SQLITE_TABLE)
    connection.execute("CREATE TABLE sync_state (id INTEGER PRIMARY KEY, page INTEGER)")
    total = 0
    for number, rows in enumerate(pages, start=1):
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(UPSERT, rows)
        connection.execute("INSERT OR REPLACE INTO sync_state VALUES (1, ?)", (number,))
        connection.execute("COMMIT")
        total += len(rows)
    connection.close()
    return total


def with_batchsync(url: str, page_size: int, workdir: Path, writer_process: str = "auto") -> int:
    config: dict[str, Any] = demo_config(url, workdir / "batchsync.db")
    config["pipelines"]["products"]["source"]["paginator"]["page_size"] = page_size
    config["pipelines"]["products"]["writer_process"] = writer_process
    result = batchsync.run("products", config, full_refresh=True)
    if result.status is not batchsync.RunStatus.SUCCEEDED:
        raise SystemExit(f"batchsync failed: {result.error}")
    return result.total_synced


def timings(
    repeat: int, job: Callable[[str, int, Path], int], url: str, page_size: int
) -> tuple[list[float], int]:
    """Every run's seconds, and the records the last run synced. Each run's CPU seconds (this process's
    threads and batchsync's writer process, not the API's nor a database server's) go to `CPU_SECONDS`:
    on a shared machine they vary less than the wall clock does."""
    seconds: list[float] = []
    records = 0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as workdir:
            started, cpu_started = time.perf_counter(), cpu_seconds()
            records = job(url, page_size, Path(workdir))
            seconds.append(time.perf_counter() - started)
            CPU_SECONDS.setdefault(job, []).append(cpu_seconds() - cpu_started)
    return seconds, records


CPU_SECONDS: dict[object, list[float]] = {}


def cpu_seconds() -> float:
    """This process's CPU time and that of the processes it started and waited for (a writer process)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def best_of(repeat: int, job: Callable[[str, int, Path], int], url: str, page_size: int) -> tuple[float, int]:
    seconds, records = timings(repeat, job, url, page_size)
    return min(seconds), records


FETCH = "fetch + parse only (ceiling)"
LOAD = "load only (WAL, executemany)"
BATCHSYNC = "batchsync run (8 columns, first sync)"
BATCHSYNC_ALONE = "batchsync, writer_process: never"
HAND = "hand-written loop (row by row)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    process, url = start_api(args.records)
    try:
        pages = fetch_rows(url, args.page_size)
        jobs: dict[str, Callable[[str, int, Path], int]] = {
            FETCH: fetch_only_job,
            LOAD: lambda _url, _size, workdir: load_only(pages, workdir),
            BATCHSYNC: with_batchsync,
            BATCHSYNC_ALONE: lambda url, size, workdir: with_batchsync(url, size, workdir, "never"),
            HAND: hand_written,
        }
        results = {name: timings(args.repeat, job, url, args.page_size) for name, job in jobs.items()}
    finally:
        process.terminate()
        process.wait()
    report(results, args.records, args.page_size, args.repeat, cpu=cpu_medians(jobs))


def cpu_medians(jobs: dict[str, Callable[[str, int, Path], int]]) -> dict[str, float]:
    """The median CPU seconds of each job, by name."""
    return {name: statistics.median(CPU_SECONDS[job]) for name, job in jobs.items() if job in CPU_SECONDS}


def report(
    results: dict[str, tuple[list[float], int]],
    expected: int,
    page_size: int,
    repeat: int,
    *,
    load: str = LOAD,
    cpu: dict[str, float] | None = None,
) -> None:
    """The table: medians, bests, and the medians' ratios to the hand-written loop and the serial limit;
    with `cpu`, the median CPU seconds too."""
    cpu = cpu or {}
    medians = {name: statistics.median(seconds) for name, (seconds, _) in results.items()}
    serial = medians[FETCH] + medians[load]
    print(
        f"\n{expected:,} records, {page_size}-record pages, {repeat} runs each, sample API in its own process"
    )
    print(
        f"{'':40} {'median s':>9} {'best s':>7} {'records/s':>10} {'vs hand':>8} {'vs serial':>10}"
        f" {'cpu s':>6}"
    )
    for name, (seconds, records) in results.items():
        assert records == expected, f"{name} synced {records} of {expected}"
        median = medians[name]
        print(
            f"{name:40} {median:9.2f} {min(seconds):7.2f} {records / median:10,.0f}"
            f" {median / medians[HAND]:7.2f}x {median / serial:9.2f}x {cpu.get(name, float('nan')):6.2f}"
        )
    print(f"{'serial limit (fetch only + load only)':40} {serial:9.2f}")


if __name__ == "__main__":
    main()
