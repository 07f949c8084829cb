"""Sink.update_columns: set the listed columns of rows that exist, by key, bound as the upsert binds
them, counting updated and unchanged (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, text

from batchsync.config import DestinationConfig
from batchsync.database import open_database
from batchsync.sinks import make_sink
from batchsync.sinks.mapping import ColumnsMapper, MappedRow, RowMapper
from batchsync.sinks.schema import destination_table, ensure_seen_at_column, ensure_table

COLUMNS = {
    "balance": {"path": "balance", "type": "decimal"},
    "opened": {"path": "opened", "type": "datetime"},
    "tags": {"path": "tags", "type": "json"},
    "active": {"path": "active", "type": "boolean"},
    "note": {"path": "note", "type": "string"},
}
LOOKUP = DestinationConfig.model_validate({"table": "accounts", "primary_key": "id", "columns": COLUMNS})
SEEN_AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
ANSWER = {
    "balance": "12.50",
    "opened": "2026-01-02T03:04:05Z",
    "tags": {"b": [1, 2], "a": None},
    "active": True,
    "note": "héllo",
}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The user's own table, as a lookup finds it: keys, answer columns still empty, a column of theirs."""
    engine = open_database(database_url)
    is_postgres = engine.dialect.name == "postgresql"
    moment, document = ("TIMESTAMPTZ", "JSONB") if is_postgres else ("TEXT", "TEXT")
    with engine.begin() as connection:
        connection.execute(
            text(
                f"CREATE TABLE accounts (id TEXT PRIMARY KEY, balance NUMERIC, opened {moment},"
                f" tags {document}, active BOOLEAN, note TEXT, theirs TEXT)"
            )
        )
        connection.execute(text("INSERT INTO accounts (id, theirs) VALUES ('a1', 'keep'), ('a2', 'keep')"))
    ensure_seen_at_column(engine, destination_table(LOOKUP))
    yield engine
    engine.dispose()


def row(key: str, answer: dict[str, Any], destination: DestinationConfig = LOOKUP) -> MappedRow:
    return MappedRow(key, tuple(ColumnsMapper(destination.columns).values(answer)), "", answer)


def counted(key: str, answer: dict[str, Any]) -> MappedRow:
    """A row of every column, the datetime included: PostgreSQL hands a timestamptz back as a datetime,
    which must compare as the same value, or every refresh would count as an update."""
    return row(key, answer, LOOKUP)


def stored(engine: Engine, table: str = "accounts") -> dict[str, tuple[Any, ...]]:
    with engine.connect() as connection:
        found = connection.execute(
            text(f"SELECT id, balance, opened, tags, active, note, _batchsync_seen_at FROM {table}")
        )
        return {found_row[0]: tuple(found_row[1:]) for found_row in found}


def test_update_columns_sets_the_listed_columns_of_existing_rows_and_counts_them(engine: Engine) -> None:
    sink = make_sink(engine.dialect.name, LOOKUP)
    with engine.begin() as connection:
        first = sink.update_columns(connection, [counted("a1", ANSWER), counted("gone", ANSWER)], SEEN_AT)
    changed = {**ANSWER, "note": "b"}
    with engine.begin() as connection:
        again = sink.update_columns(connection, [counted("a1", ANSWER), counted("a2", changed)], SEEN_AT)
    with engine.connect() as connection:
        theirs = connection.execute(text("SELECT id, theirs FROM accounts ORDER BY id")).all()

    assert (first.updated, first.unchanged, first.created) == (2, 0, 0)  # a key without a row: updated
    assert (again.updated, again.unchanged) == (1, 1)
    rows = stored(engine)
    assert set(rows) == {"a1", "a2"}  # nothing created for the missing key
    assert [tuple(found) for found in theirs] == [("a1", "keep"), ("a2", "keep")]
    assert rows["a1"][4] == "héllo" and rows["a2"][4] == "b"
    assert all(found[5] is not None for found in rows.values())
    assert Decimal(str(rows["a1"][0])) == Decimal("12.50")


def test_classify_updates_counts_what_update_columns_would_do_and_writes_nothing(engine: Engine) -> None:
    sink = make_sink(engine.dialect.name, LOOKUP)
    with engine.begin() as connection:
        sink.update_columns(connection, [counted("a1", ANSWER)], SEEN_AT)
    before = stored(engine)
    with engine.begin() as connection:
        counts = sink.classify_updates(connection, [counted("a1", ANSWER), counted("a2", ANSWER)])

    assert (counts.updated, counts.unchanged) == (1, 1)
    assert stored(engine) == before


def test_an_update_binds_values_exactly_as_the_upsert_does(engine: Engine) -> None:
    pulled = DestinationConfig.model_validate(
        {"table": "pulled", "primary_key": "id", "columns": {"id": {"path": "id"}, **COLUMNS}}
    )
    pull_sink = make_sink(engine.dialect.name, pulled)
    ensure_table(engine, pull_sink.table, pulled)
    with engine.begin() as connection:
        pull_sink.write(connection, [RowMapper(pulled).map({"id": "a1", **ANSWER})], SEEN_AT)
        make_sink(engine.dialect.name, LOOKUP).update_columns(connection, [row("a1", ANSWER)], SEEN_AT)

    assert stored(engine)["a1"] == stored(engine, "pulled")["a1"]  # the same stored values, text and all
