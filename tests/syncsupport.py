"""Shared helpers for end-to-end tests: configs for each pagination shape of the sample API, and
reconciliation of a synced table against the sample inventory."""

from __future__ import annotations

import copy
import sqlite3
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import yaml

from batchsync.sampleapi import Inventory

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


def table_rows(database: Path, table: str = "items") -> dict[str, tuple[Any, ...]]:
    """The synced table, read with plain sqlite3, in the same comparable values."""
    with sqlite3.connect(database) as connection:
        found = connection.execute(
            f"SELECT item_id, sku, name, price, stock_quantity, is_active, category, unit, created_at,"
            f" updated_at, warehouse, custom_fields FROM {table}"
        ).fetchall()
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
            datetime.fromisoformat(created),
            datetime.fromisoformat(updated),
            warehouse,
            orjson.loads(fields),
        )
    return rows


def assert_table_equals_source(database: Path, inventory: Inventory, table: str = "items") -> None:
    """Nothing missing, nothing extra, no value changed."""
    actual = table_rows(database, table)
    expected = expected_rows(inventory)
    missing = expected.keys() - actual.keys()
    extra = actual.keys() - expected.keys()
    changed = [key for key in expected.keys() & actual.keys() if expected[key] != actual[key]]
    assert not missing, f"{len(missing)} records missing, e.g. {sorted(missing)[:5]}"
    assert not extra, f"{len(extra)} extra rows, e.g. {sorted(extra)[:5]}"
    assert not changed, (
        f"{len(changed)} rows differ, e.g. {changed[0]}: {actual[changed[0]]} != {expected[changed[0]]}"
    )


def url_document(url: str, pipelines: dict[str, Any]) -> dict[str, Any]:
    """A config document for any database URL (SQLite or PostgreSQL)."""
    return {"database": url, "pipelines": pipelines}


def table_rows_at(url: str, table: str = "items") -> dict[str, tuple[Any, ...]]:
    """The synced table, read through SQLAlchemy from either database, in comparable values."""
    from sqlalchemy import create_engine, text

    if url.startswith("sqlite:///"):
        return table_rows(Path(url.removeprefix("sqlite:///")), table)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            found = connection.execute(
                text(
                    "SELECT item_id, sku, name, price, stock_quantity, is_active, category, unit, created_at,"
                    f" updated_at, warehouse, custom_fields FROM {table}"
                )
            ).all()
    finally:
        engine.dispose()
    return {row[0]: (*row[1:10], row[10], row[11]) for row in found}


def assert_table_at_equals_source(url: str, inventory: Inventory, table: str = "items") -> None:
    actual = table_rows_at(url, table)
    expected = expected_rows(inventory)
    missing = expected.keys() - actual.keys()
    extra = actual.keys() - expected.keys()
    changed = [key for key in expected.keys() & actual.keys() if expected[key] != actual[key]]
    assert not missing, f"{len(missing)} records missing, e.g. {sorted(missing)[:5]}"
    assert not extra, f"{len(extra)} extra rows, e.g. {sorted(extra)[:5]}"
    assert not changed, (
        f"{len(changed)} rows differ, e.g. {changed[0]}: {actual[changed[0]]} != {expected[changed[0]]}"
    )
