"""Pull throughput into PostgreSQL, side by side in one run: batchsync vs a hand-written sync loop vs the
fetch-and-parse ceiling vs a bare COPY load, against the same sample API served from a separate process
and a throwaway PostgreSQL server (tests/pgserver.py).

    .venv/bin/python bench/pull_postgres.py [--records 100000] [--page-size 200] [--repeat 3]

The same jobs as bench/pull_sqlite.py, on PostgreSQL. The load-only job writes rows fetched and
converted beforehand (not timed) the way batchsync's sink does, without the rest of batchsync: per page,
in one transaction, COPY into a temporary table, one `INSERT … SELECT … ON CONFLICT … DO UPDATE …
RETURNING`, and the page number. Fetch-only plus load-only is the serial limit. Each job runs in a
database of its own, created for that run. Figures are medians (and bests) of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

import batchsync
from batchsync.demo import demo_config

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from common import PAGE_NUMBER, seed_loop_postgres
from pgserver import PostgresServer
from pull_sqlite import (
    BATCHSYNC,
    BATCHSYNC_ALONE,
    FETCH,
    HAND,
    cpu_medians,
    fetch_only_job,
    fetch_rows,
    report,
    start_api,
    timings,
)

LOAD = "load only (COPY + merge)"
COLUMNS = "item_id, sku, name, price, stock_quantity, is_active, category, updated_at"
CREATE = (
    "CREATE TABLE products (item_id TEXT PRIMARY KEY, sku TEXT, name TEXT, price NUMERIC,"
    " stock_quantity BIGINT, is_active BOOLEAN, category TEXT, updated_at TIMESTAMPTZ)"
)
SAVE_PAGE = "INSERT INTO sync_state VALUES (1, %s) ON CONFLICT (id) DO UPDATE SET page = excluded.page"
SET = (
    "sku = excluded.sku, name = excluded.name, price = excluded.price,"
    " stock_quantity = excluded.stock_quantity, is_active = excluded.is_active,"
    " category = excluded.category, updated_at = excluded.updated_at"
)


def plain_url(url: str) -> str:
    """psycopg's own form of a SQLAlchemy URL."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def fresh_database(server: PostgresServer) -> str:
    """The SQLAlchemy URL of a new, empty database."""
    return server.database_url(server.create_database())


def load_only(server: PostgresServer, pages: list[list[tuple[Any, ...]]]) -> int:
    """The floor of the write side, as batchsync's sink writes: COPY + merge + the page, per page."""
    total = 0
    with psycopg.connect(plain_url(fresh_database(server))) as connection:
        connection.execute(CREATE)
        connection.execute("CREATE TABLE sync_state (id INTEGER PRIMARY KEY, page INTEGER)")
        connection.commit()
        for number, rows in enumerate(pages, start=1):
            with connection.transaction():
                connection.execute("CREATE TEMPORARY TABLE stage (LIKE products) ON COMMIT DROP")
                with connection.cursor() as cursor, cursor.copy(f"COPY stage ({COLUMNS}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row((*row[:5], bool(row[5]), *row[6:]))
                returned = connection.execute(
                    f"INSERT INTO products SELECT * FROM stage ON CONFLICT (item_id) DO UPDATE SET {SET}"
                    " RETURNING item_id, xmax = 0"
                ).fetchall()
                connection.execute(
                    SAVE_PAGE,
                    (number,),
                )
            total += len(returned)
    return total


def hand_written(server: PostgresServer, url: str, page_size: int) -> int:
    """The loop teams write by hand (bench/common.py's seed loop): row-by-row upsert, commit, then save
    the page."""
    return seed_loop_postgres(url, page_size, fresh_database(server), PAGE_NUMBER)


def with_batchsync(server: PostgresServer, url: str, page_size: int, writer_process: str = "auto") -> int:
    config: dict[str, Any] = demo_config(url, Path("unused.db"))
    config["database"] = fresh_database(server)
    config["pipelines"]["products"]["source"]["paginator"]["page_size"] = page_size
    config["pipelines"]["products"]["writer_process"] = writer_process
    result = batchsync.run("products", config, full_refresh=True)
    if result.status is not batchsync.RunStatus.SUCCEEDED:
        raise SystemExit(f"batchsync failed: {result.error}")
    return result.total_synced


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
        with PostgresServer() as server:
            pages = fetch_rows(url, args.page_size)
            jobs: dict[str, Callable[[str, int, Path], int]] = {
                FETCH: fetch_only_job,
                LOAD: lambda _url, _size, _workdir: load_only(server, pages),
                BATCHSYNC: lambda api, size, _workdir: with_batchsync(server, api, size),
                BATCHSYNC_ALONE: lambda api, size, _: with_batchsync(server, api, size, "never"),
                HAND: lambda api, size, _workdir: hand_written(server, api, size),
            }
            results = {name: timings(args.repeat, job, url, args.page_size) for name, job in jobs.items()}
    finally:
        process.terminate()
        process.wait()
    report(results, args.records, args.page_size, args.repeat, load=LOAD, cpu=cpu_medians(jobs))


if __name__ == "__main__":
    main()
