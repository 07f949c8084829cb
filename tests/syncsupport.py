"""Shared helpers for end-to-end tests: configs for each pagination shape of the sample API,
reconciliation of a synced table against the sample inventory, and portable SQL reads and writes
(`fetch_all`, `fetch_dicts`, `execute`) that work on any database URL, SQLite or PostgreSQL."""

from __future__ import annotations

import copy
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import yaml
from sqlalchemy import create_engine, text

import batchsync
from batchsync.models import RunStatus
from fakeapi import Inventory, SampleApi

# One entry per pagination style (and stop signal) the sample API serves.
STYLES: dict[str, dict[str, Any]] = {
    "offset_has_more": {
        "path": "/crmRestApi/resources/11.12.1.0/items",
        "records_path": "items",
        "paginator": {"type": "offset", "limit": 200, "has_more_path": "hasMore"},
    },
    "offset_total": {
        "path": "/crmRestApi/resources/11.12.1.0/items",
        "records_path": "items",
        "paginator": {"type": "offset", "limit": 200, "total_path": "totalResults"},
    },
    "offset_short_page": {
        "path": "/crmRestApi/resources/11.12.1.0/items",
        "records_path": "items",
        "paginator": {"type": "offset", "limit": 300},
    },
    "page_number_has_more": {
        "path": "/inventory/v1/items",
        "records_path": "items",
        "paginator": {
            "type": "page_number",
            "page_param": "page",
            "size_param": "per_page",
            "page_size": 200,
            "has_more_path": "page_context.has_more_page",
        },
    },
    "page_number_total_pages": {
        "path": "/inventory/v1/items",
        "records_path": "items",
        "paginator": {
            "type": "page_number",
            "page_size": 250,
            "total_pages_path": "page_context.total_pages",
        },
    },
    "page_number_short_page": {
        "path": "/inventory/v1/items",
        "records_path": "items",
        "paginator": {"type": "page_number", "page_size": 300},
    },
    "cursor_in_body": {
        "path": "/api/items",
        "records_path": "items",
        "paginator": {
            "type": "cursor",
            "cursor_param": "cursor",
            "next_cursor_path": "next_cursor",
            "limit_param": "limit",
            "limit": 200,
        },
    },
    "cursor_from_last_record": {
        "path": "/v1/items",
        "records_path": "data",
        "paginator": {
            "type": "cursor",
            "cursor_param": "starting_after",
            "cursor_from_last_record": "item_id",
            "has_more_path": "has_more",
            "limit_param": "limit",
            "limit": 100,
        },
    },
    "link_header": {
        "path": "/repos/items",
        "records_path": None,
        "paginator": {"type": "link_header", "size_param": "per_page", "page_size": 100},
    },
    "next_url": {
        "path": "/services/data/v59.0/query",
        "records_path": "records",
        "paginator": {
            "type": "next_url",
            "next_url_path": "nextRecordsUrl",
            "size_param": "batchSize",
            "page_size": 200,
        },
    },
}

# Every field of a sample item, each in the column type that fits it.
ITEM_COLUMNS: dict[str, dict[str, Any]] = {
    "item_id": {"path": "item_id", "type": "string"},
    "sku": {"path": "sku", "type": "string"},
    "name": {"path": "name", "type": "string"},
    "price": {"path": "rate", "type": "decimal"},
    "stock_quantity": {"path": "stock_on_hand", "type": "integer"},
    "is_active": {"path": "status", "type": "boolean", "true_values": ["active"]},
    "category": {"path": "category", "type": "string"},
    "unit": {"path": "unit", "type": "string"},
    "created_at": {"path": "created_time", "type": "datetime"},
    "updated_at": {"path": "last_modified_time", "type": "datetime"},
    "warehouse": {"path": "custom_fields.warehouse", "type": "string"},
    "custom_fields": {"path": "custom_fields", "type": "json"},
}


def pipeline_config(base_url: str, style: str = "page_number_has_more", **source: Any) -> dict[str, Any]:
    """A fresh (deep-copied) pipeline dict for `style`; tests may change it freely."""
    shape = {key: value for key, value in STYLES[style].items() if value is not None}
    return copy.deepcopy(
        {
            "source": {"type": "rest", "base_url": base_url, **shape, **source},
            "destination": {"table": "items", "primary_key": "item_id", "columns": ITEM_COLUMNS},
        }
    )


def config_document(database: Path, pipelines: dict[str, Any]) -> dict[str, Any]:
    return {"database": f"sqlite:///{database}", "pipelines": pipelines}


def write_config(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def expected_rows(inventory: Inventory) -> dict[str, tuple[Any, ...]]:
    """What the table must hold for this inventory, in comparable Python values."""
    rows = {}
    for item in inventory.items():
        rows[item["item_id"]] = (
            item["sku"],
            item["name"],
            Decimal(str(item["rate"])),
            item["stock_on_hand"],
            item["status"] == "active",
            item["category"],
            item["unit"],
            datetime.fromisoformat(item["created_time"]),
            datetime.fromisoformat(item["last_modified_time"]),
            item["custom_fields"]["warehouse"],
            item["custom_fields"],
        )
    return rows


_ITEM_SELECT = (
    "SELECT item_id, sku, name, price, stock_quantity, is_active, category, unit, created_at,"
    " updated_at, warehouse, custom_fields FROM {table}"
)


def _comparable(found: list[Any]) -> dict[str, tuple[Any, ...]]:
    """Rows as SQLite stores them (text, 0/1, floats) or as PostgreSQL returns them (Decimal, bool,
    datetime, dict), in the same comparable values."""
    rows = {}
    for (
        item_id,
        sku,
        name,
        price,
        stock,
        active,
        category,
        unit,
        created,
        updated,
        warehouse,
        fields,
    ) in found:
        rows[item_id] = (
            sku,
            name,
            Decimal(str(price)),
            stock,
            bool(active),
            category,
            unit,
            _as_datetime(created),
            _as_datetime(updated),
            warehouse,
            orjson.loads(fields) if isinstance(fields, str | bytes) else fields,
        )
    return rows


def _as_datetime(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def table_rows(database: Path, table: str = "items") -> dict[str, tuple[Any, ...]]:
    """The synced table, read with plain sqlite3, in the same comparable values."""
    with sqlite3.connect(database) as connection:
        found = connection.execute(_ITEM_SELECT.format(table=table)).fetchall()
    return _comparable(found)


def assert_table_equals_source(database: Path, inventory: Inventory, table: str = "items") -> None:
    """Nothing missing, nothing extra, no value changed."""
    _assert_rows_equal_source(table_rows(database, table), inventory)


def url_document(url: str, pipelines: dict[str, Any]) -> dict[str, Any]:
    """A config document for any database URL (SQLite or PostgreSQL)."""
    return {"database": url, "pipelines": pipelines}


def table_rows_at(url: str, table: str = "items") -> dict[str, tuple[Any, ...]]:
    """The synced table, read through SQLAlchemy from either database, in the same comparable values."""
    return _comparable(fetch_all(url, _ITEM_SELECT.format(table=table)))


def fetch_all(url: str, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """Every row of one query (portable SQL, `:name` parameters) on either database, as tuples."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params or {})]
    finally:
        engine.dispose()


def fetch_dicts(url: str, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Like fetch_all, each row as a dict of column name to value."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [dict(row) for row in connection.execute(text(sql), params or {}).mappings()]
    finally:
        engine.dispose()


def execute(url: str, sql: str, params: dict[str, Any] | list[dict[str, Any]] | None = None) -> None:
    """One statement (portable SQL; a list of parameter dicts runs it once per dict), committed."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(sql), params or {})
    finally:
        engine.dispose()


def assert_table_at_equals_source(url: str, inventory: Inventory, table: str = "items") -> None:
    """Nothing missing, nothing extra, no value changed, on either database."""
    _assert_rows_equal_source(table_rows_at(url, table), inventory)


def _assert_rows_equal_source(actual: dict[str, tuple[Any, ...]], inventory: Inventory) -> None:
    expected = expected_rows(inventory)
    missing = expected.keys() - actual.keys()
    extra = actual.keys() - expected.keys()
    changed = [key for key in expected.keys() & actual.keys() if expected[key] != actual[key]]
    assert not missing, f"{len(missing)} records missing, e.g. {sorted(missing)[:5]}"
    assert not extra, f"{len(extra)} extra rows, e.g. {sorted(extra)[:5]}"
    assert not changed, (
        f"{len(changed)} rows differ, e.g. {changed[0]}: {actual[changed[0]]} != {expected[changed[0]]}"
    )


def create_table_with_a_price_check(config: dict[str, Any]) -> None:
    """The destination table as batchsync makes it, plus a rule of the DBA's that refuses bad prices."""
    with SampleApi(Inventory(size=0)) as empty:
        empty_config = {**config, "pipelines": {"items": pipeline_config(empty.url)}}
        assert batchsync.run("items", empty_config).status is RunStatus.SUCCEEDED
        batchsync.reset("items", empty_config)
    database_url = config["database"]
    if database_url.startswith("sqlite:"):
        execute(
            database_url,
            "CREATE TRIGGER price_check BEFORE INSERT ON items WHEN NEW.price < 0 "
            "BEGIN SELECT RAISE(ABORT, 'price must not be negative'); END",
        )
    else:  # PostgreSQL names the violated constraint in its error, so the name carries the message
        execute(
            database_url,
            'ALTER TABLE items ADD CONSTRAINT "price must not be negative" CHECK (price >= 0)',
        )


def listed_fanout_document(
    database_url: str,
    api: SampleApi,
    accounts: Sequence[str],
    *,
    columns: Sequence[str] = ("transaction_id", "account_id", "amount"),
    fanout: dict[str, Any] | None = None,
    **pipeline: Any,
) -> dict[str, Any]:
    """`bank_sync`: a fan-out over the accounts `GET /accounts` lists (served with their tokens), one
    child sync each of the account's transactions, 10 a page; `fanout` adds to the fan-out source,
    `pipeline` to the pipeline (e.g. `rate_limit`, `concurrency`)."""
    api.accounts.set_directory(
        [{"account_id": account, "token": api.accounts.token_for(account)} for account in accounts]
    )
    types = {"amount": "decimal"}
    return {
        "database": database_url,
        "pipelines": {
            "bank_sync": {
                **pipeline,
                "source": {
                    "type": "fanout",
                    **(fanout or {}),
                    "entities": {
                        "api": {
                            "base_url": api.url,
                            "path": "/accounts",
                            "records_path": "accounts",
                            "paginator": {
                                "type": "page_number",
                                "has_more_path": "page_context.has_more_page",
                            },
                        },
                        "id_field": "account_id",
                    },
                    "child_source": {
                        "base_url": api.url,
                        "path": "/accounts/{entity.account_id}/transactions",
                        "auth": {"type": "bearer", "token": "{entity.token}"},
                        "paginator": {
                            "type": "page_number",
                            "page_size": 10,
                            "has_more_path": "page_context.has_more_page",
                        },
                        "records_path": "transactions",
                    },
                },
                "destination": {
                    "table": "transactions",
                    "primary_key": "transaction_id",
                    "columns": {name: {"path": name, "type": types.get(name, "string")} for name in columns},
                },
            }
        },
    }


def run_stopped_when(
    name: str, config: Any, condition: Callable[[], bool], *, seconds: float = 60
) -> batchsync.RunResult:
    """`batchsync.run(name, config)`, asked to stop as soon as `condition()` holds (looked at every 2 ms,
    for at most `seconds`), as a Ctrl+C or a cancel at that moment would."""
    stop, ended = threading.Event(), threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + seconds
        while not condition() and not ended.is_set() and time.monotonic() < deadline:
            time.sleep(0.002)
        stop.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        return batchsync.run(name, config, stop=stop)
    finally:
        ended.set()
        watcher.join()
