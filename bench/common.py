"""What the benchmarks share: the sample API in its own process, the two paging shapes they read, the
fetch-and-parse ceiling, the hand-written seed loop and the bulk-load floor.

The seed loop is the service batchsync replaces (what the seed documents describe): fetch a page, upsert
its rows one by one, commit, then store the position and commit again, so a crash between the two commits
re-processes a page. It resumes from the stored position, as such a service does after a restart.
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from batchsync.sampleapi.inventory import BASE_TIME, make_item

Row = tuple[Any, ...]

COLUMNS = ("item_id", "sku", "name", "price", "stock_quantity", "is_active", "category", "updated_at")
SQLITE_TABLE = (
    "CREATE TABLE IF NOT EXISTS products (item_id TEXT PRIMARY KEY, sku TEXT, name TEXT, price NUMERIC,"
    " stock_quantity INTEGER, is_active INTEGER, category TEXT, updated_at TEXT)"
)
POSTGRES_TABLE = (
    "CREATE TABLE IF NOT EXISTS products (item_id TEXT PRIMARY KEY, sku TEXT, name TEXT, price NUMERIC,"
    " stock_quantity INTEGER, is_active BOOLEAN, category TEXT, updated_at TIMESTAMPTZ)"
)
_SET = ", ".join(f"{name}=excluded.{name}" for name in COLUMNS[1:])
UPSERT = f"INSERT INTO products VALUES ({', '.join('?' * 8)}) ON CONFLICT(item_id) DO UPDATE SET {_SET}"


@dataclass(frozen=True, slots=True)
class Paging:
    """One of the fake API's paging shapes: where it is, how a page is asked for, when it ends."""

    path: str
    records: str

    def params(self, page_index: int, page_size: int) -> dict[str, int]:
        if self is OFFSET:
            return {"offset": page_index * page_size, "limit": page_size}
        return {"page": page_index + 1, "per_page": page_size}

    def has_more(self, body: dict[str, Any]) -> bool:
        if self is OFFSET:
            return bool(body["hasMore"])
        return bool(body["page_context"]["has_more_page"])


OFFSET = Paging("/crmRestApi/resources/11.12.1.0/items", "items")  # Oracle: offset, limit, hasMore
PAGE_NUMBER = Paging("/inventory/v1/items", "items")  # Zoho: page, per_page, page_context.has_more_page


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_api(records: int) -> tuple[subprocess.Popen[bytes], str]:
    """`batchsync sample-api` (the product's, page-number shape only) in a process of its own."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "batchsync", "sample-api", "--port", str(port), "--items", str(records)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            # The product's sample API has no /health (the test fake API has): ask for a one-record page.
            if httpx.get(f"{url}{PAGE_NUMBER.path}", params={"per_page": 1}).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the sample API did not start")


def fetch_only(url: str, page_size: int, paging: Paging = PAGE_NUMBER) -> int:
    """The ceiling: page through the API and parse JSON, storing nothing."""
    total = 0
    with httpx.Client(base_url=url) as client:
        index = 0
        while True:
            body = orjson.loads(client.get(paging.path, params=paging.params(index, page_size)).content)
            total += len(body[paging.records])
            if not paging.has_more(body):
                return total
            index += 1


def item_row(item: dict[str, Any]) -> Row:
    """An item as the 8 typed columns every contender stores (price as text: exact, as NUMERIC wants)."""
    return (
        item["item_id"],
        item["sku"],
        item["name"],
        str(item["rate"]),
        item["stock_on_hand"],
        item["status"] == "active",
        item["category"],
        item["last_modified_time"],
    )


def expected_rows(records: int) -> Iterator[Row]:
    """The rows of the fake API's `Inventory(records)` (seed 0), built locally: what a sync must store."""
    for seq in range(1, records + 1):
        yield item_row(make_item(seq, 0, BASE_TIME + timedelta(seconds=seq)))


def seed_loop_sqlite(url: str, page_size: int, database: Path, paging: Paging = PAGE_NUMBER) -> int:
    """The loop teams write by hand, into SQLite: row-by-row upsert, commit, then save the position."""
    connection = sqlite3.connect(database)
    connection.execute(SQLITE_TABLE)
    connection.execute("CREATE TABLE IF NOT EXISTS sync_state (id INTEGER PRIMARY KEY, page INTEGER)")
    saved = connection.execute("SELECT page FROM sync_state WHERE id = 1").fetchone()
    index, total = (saved[0] + 1 if saved else 0), 0
    with httpx.Client(base_url=url) as client:
        while True:
            body = client.get(paging.path, params=paging.params(index, page_size)).json()
            for item in body[paging.records]:
                row = item_row(item)
                connection.execute(UPSERT, (*row[:5], int(row[5]), *row[6:]))
            connection.commit()
            connection.execute("INSERT OR REPLACE INTO sync_state VALUES (1, ?)", (index,))
            connection.commit()
            total += len(body[paging.records])
            if not paging.has_more(body):
                connection.close()
                return total
            index += 1


def seed_loop_postgres(url: str, page_size: int, database_url: str, paging: Paging = OFFSET) -> int:
    """The same loop into PostgreSQL through psycopg: one INSERT … ON CONFLICT per row."""
    import psycopg

    upsert = UPSERT.replace("?", "%s")
    with (
        psycopg.connect(database_url.replace("+psycopg", "")) as connection,
        httpx.Client(base_url=url) as client,
    ):
        connection.execute(POSTGRES_TABLE)
        connection.execute("CREATE TABLE IF NOT EXISTS sync_state (id INTEGER PRIMARY KEY, page INTEGER)")
        connection.commit()
        saved = connection.execute("SELECT page FROM sync_state WHERE id = 1").fetchone()
        index, total = (saved[0] + 1 if saved else 0), 0
        while True:
            body = client.get(paging.path, params=paging.params(index, page_size)).json()
            for item in body[paging.records]:
                connection.execute(upsert, item_row(item))
            connection.commit()
            connection.execute(
                "INSERT INTO sync_state VALUES (1, %s) ON CONFLICT (id) DO UPDATE SET page = excluded.page",
                (index,),
            )
            connection.commit()
            total += len(body[paging.records])
            if not paging.has_more(body):
                return total
            index += 1


def load_only_sqlite(rows: list[Row], database: Path) -> int:
    """The floor of writing: every row in one `executemany` upsert, one transaction, WAL as batchsync."""
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(SQLITE_TABLE)
    with connection:
        connection.executemany(UPSERT, [(*row[:5], int(row[5]), *row[6:]) for row in rows])
    connection.close()
    return len(rows)


def load_only_postgres(rows: list[Row], database_url: str) -> int:
    """The floor of writing to PostgreSQL: COPY into a temporary table, then one INSERT … ON CONFLICT."""
    import psycopg

    with psycopg.connect(database_url.replace("+psycopg", "")) as connection:
        connection.execute(POSTGRES_TABLE)
        connection.execute("CREATE TEMP TABLE stage (LIKE products) ON COMMIT DROP")
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY stage ({', '.join(COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        connection.execute(
            f"INSERT INTO products SELECT * FROM stage ON CONFLICT (item_id) DO UPDATE SET {_SET}"
        )
    return len(rows)
