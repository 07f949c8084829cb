"""Pull throughput into SQLite, side by side in one run: batchsync vs a hand-written sync loop vs the
fetch-and-parse ceiling, all against the same sample API served from a separate process.

    .venv/bin/python bench/pull_sqlite.py [--records 100000] [--page-size 200] [--repeat 3]

The hand-written loop is the service batchsync replaces: fetch a page, insert its rows one by one,
commit, then store the offset (a crash between the last two re-processes or skips a page). Each figure
is the best of `--repeat` runs; ratios are against batchsync.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import batchsync
from batchsync.demo import demo_config
from common import fetch_only, seed_loop_sqlite, start_api


def fetch_only_job(url: str, page_size: int, _workdir: Path) -> int:
    """The ceiling: page through the API and parse JSON, storing nothing."""
    return fetch_only(url, page_size)


def hand_written(url: str, page_size: int, workdir: Path) -> int:
    """The loop teams write by hand: row-by-row upsert, commit, then save the offset."""
    return seed_loop_sqlite(url, page_size, workdir / "hand.db")


def with_batchsync(url: str, page_size: int, workdir: Path) -> int:
    config: dict[str, Any] = demo_config(url, workdir / "batchsync.db")
    config["pipelines"]["products"]["source"]["paginator"]["page_size"] = page_size
    result = batchsync.run("products", config, full_refresh=True)
    if result.status is not batchsync.RunStatus.SUCCEEDED:
        raise SystemExit(f"batchsync failed: {result.error}")
    return result.total_synced


def best_of(repeat: int, job: Callable[[str, int, Path], int], url: str, page_size: int) -> tuple[float, int]:
    best = float("inf")
    records = 0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as workdir:
            started = time.perf_counter()
            records = job(url, page_size, Path(workdir))
            best = min(best, time.perf_counter() - started)
    return best, records


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
        jobs = {
            "fetch + parse only (ceiling)": fetch_only_job,
            "batchsync run (8 columns, first sync)": with_batchsync,
            "hand-written loop (row by row)": hand_written,
        }
        results = {name: best_of(args.repeat, job, url, args.page_size) for name, job in jobs.items()}
    finally:
        process.terminate()
        process.wait()

    reference = results["batchsync run (8 columns, first sync)"][0]
    print(
        f"\n{args.records:,} records, {args.page_size}-record pages, best of {args.repeat},"
        " sample API in its own process"
    )
    print(f"{'':40} {'seconds':>8} {'records/s':>11} {'time vs batchsync':>18}")
    for name, (seconds, records) in results.items():
        assert records == args.records, f"{name} synced {records} of {args.records}"
        print(f"{name:40} {seconds:8.2f} {records / seconds:11,.0f} {seconds / reference:17.2f}x")


if __name__ == "__main__":
    main()
