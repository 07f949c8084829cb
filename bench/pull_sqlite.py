"""Pull throughput into SQLite, side by side in one run: batchsync vs a hand-written sync loop vs the
fetch-and-parse ceiling, all against the same sample API served from a separate process.

    .venv/bin/python bench/pull_sqlite.py [--records 100000] [--page-size 200] [--repeat 3]

The hand-written loop is the service batchsync replaces: fetch a page, insert its rows one by one,
commit, then store the offset (a crash between the last two re-processes or skips a page). Each figure
is the best of `--repeat` runs; ratios are against batchsync.
"""

from __future__ import annotations

import argparse
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

import batchsync
from batchsync.demo import demo_config

PATH = "/inventory/v1/items"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_api(records: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "batchsync", "sample-api", "--port", str(port), "--items", str(records)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the sample API did not start")


def fetch_only(url: str, page_size: int, _workdir: Path) -> int:
    """The ceiling: page through the API and parse JSON, storing nothing."""
    total = 0
    with httpx.Client(base_url=url) as client:
        page = 1
        while True:
            body = orjson.loads(client.get(PATH, params={"page": page, "per_page": page_size}).content)
            total += len(body["items"])
            if not body["page_context"]["has_more_page"]:
                return total
            page += 1


def hand_written(url: str, page_size: int, workdir: Path) -> int:
    """The loop teams write by hand: row-by-row upsert, commit, then save the offset."""
    connection = sqlite3.connect(workdir / "hand.db")
    connection.execute(
        "CREATE TABLE IF NOT EXISTS products (item_id TEXT PRIMARY KEY, sku TEXT, name TEXT, price NUMERIC,"
        " stock_quantity INTEGER, is_active INTEGER, category TEXT, updated_at TEXT)"
    )
    connection.execute("CREATE TABLE IF NOT EXISTS sync_state (id INTEGER PRIMARY KEY, page INTEGER)")
    total = 0
    with httpx.Client(base_url=url) as client:
        page = 1
        while True:
            body = client.get(PATH, params={"page": page, "per_page": page_size}).json()
            for item in body["items"]:
                connection.execute(
                    "INSERT INTO products VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(item_id) DO UPDATE SET"
                    " sku=excluded.sku, name=excluded.name, price=excluded.price,"
                    " stock_quantity=excluded.stock_quantity, is_active=excluded.is_active,"
                    " category=excluded.category, updated_at=excluded.updated_at",
                    (
                        item["item_id"],
                        item["sku"],
                        item["name"],
                        str(item["rate"]),
                        item["stock_on_hand"],
                        int(item["status"] == "active"),
                        item["category"],
                        item["last_modified_time"],
                    ),
                )
            connection.commit()
            connection.execute("INSERT OR REPLACE INTO sync_state VALUES (1, ?)", (page,))
            connection.commit()
            total += len(body["items"])
            if not body["page_context"]["has_more_page"]:
                connection.close()
                return total
            page += 1


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
            "fetch + parse only (ceiling)": fetch_only,
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
