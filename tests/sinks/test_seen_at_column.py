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


def seen_at_indexes(url: str, table: str) -> set[str]:
    engine = open_database(url)
    try:
        return {
            index["name"]
            for index in inspect(engine).get_indexes(table)
            if SEEN_AT_COLUMN in index["column_names"]
        }
    finally:
        engine.dispose()


def test_a_pull_table_has_no_seen_at_index_and_loses_the_one_an_earlier_version_made(
    database_url: str,
) -> None:
    """Earlier versions indexed `_batchsync_seen_at` (ix_pulled__batchsync_seen_at): a cost on every row
    written, for reads that scan the table anyway. The index is dropped; a user's own one is kept."""
    engine = open_database(database_url)
    try:
        ensure_table(engine, destination_table(PULLED), PULLED)
        assert seen_at_indexes(database_url, "pulled") == set()
        with engine.begin() as connection:
            connection.execute(text(f"CREATE INDEX ix_pulled_{SEEN_AT_COLUMN} ON pulled ({SEEN_AT_COLUMN})"))
            connection.execute(text(f"CREATE INDEX my_own_seen ON pulled ({SEEN_AT_COLUMN}, keyname)"))
        assert seen_at_indexes(database_url, "pulled") == {f"ix_pulled_{SEEN_AT_COLUMN}", "my_own_seen"}
        ensure_table(engine, destination_table(PULLED), PULLED)
        ensure_table(engine, destination_table(PULLED), PULLED)  # a second run finds it gone
    finally:
        engine.dispose()
    assert seen_at_indexes(database_url, "pulled") == {"my_own_seen"}
