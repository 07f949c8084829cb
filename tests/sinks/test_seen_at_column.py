"""A lookup's table gets `_batchsync_seen_at` with a pull table's type; one an earlier version added as
TEXT is converted on PostgreSQL, keeping its moments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect, text

from batchsync.config import DestinationConfig
from batchsync.database import open_database
from batchsync.sinks.schema import SEEN_AT_COLUMN, destination_table, ensure_seen_at_column, ensure_table

LOOKUP = DestinationConfig.model_validate(
    {"table": "product_keys", "primary_key": "keyname", "columns": {"remaining": {"path": "remaining"}}}
)
PULLED = DestinationConfig.model_validate(
    {
        "table": "pulled",
        "primary_key": "keyname",
        "columns": {"keyname": {"path": "k"}, "remaining": {"path": "r"}},
    }
)


def seen_at_type(url: str, table: str) -> tuple[str, Any]:
    """The column's type as the database reports it: its name and whether it keeps a time zone."""
    engine = open_database(url)
    try:
        columns = {column["name"]: column["type"] for column in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()
    found = columns[SEEN_AT_COLUMN]
    return str(found).upper(), getattr(found, "timezone", None)


def test_the_seen_at_column_is_added_with_a_pull_tables_type(database_url: str) -> None:
    engine = open_database(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE product_keys (keyname TEXT PRIMARY KEY, remaining TEXT)"))
        ensure_seen_at_column(engine, destination_table(LOOKUP))
        ensure_seen_at_column(engine, destination_table(LOOKUP))  # a second run finds it made
        ensure_table(engine, destination_table(PULLED), PULLED)
    finally:
        engine.dispose()
    assert seen_at_type(database_url, "product_keys") == seen_at_type(database_url, "pulled")


def test_a_text_seen_at_column_from_an_earlier_version_becomes_timestamptz_on_postgresql(
    postgres_url: str,
) -> None:
    earlier = "2026-01-02T03:04:05.678901+00:00"  # as earlier versions stamped it
    engine = open_database(postgres_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "CREATE TABLE product_keys"
                    " (keyname TEXT PRIMARY KEY, remaining TEXT, _batchsync_seen_at TEXT)"
                )
            )
            connection.execute(
                text("INSERT INTO product_keys VALUES ('k1', '3', :seen), ('k2', NULL, NULL)"),
                {"seen": earlier},
            )
        ensure_seen_at_column(engine, destination_table(LOOKUP))
        ensure_table(engine, destination_table(PULLED), PULLED)
        with engine.connect() as connection:
            seen = dict(
                connection.execute(text("SELECT keyname, _batchsync_seen_at FROM product_keys")).all()
            )
    finally:
        engine.dispose()
    assert (
        seen_at_type(postgres_url, "product_keys")
        == seen_at_type(postgres_url, "pulled")
        == ("TIMESTAMP", True)
    )
    assert seen == {"k1": datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC), "k2": None}
