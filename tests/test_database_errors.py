"""The one seam for database errors (database.py): whichever layer meets a failed database call (a sink's
write, dead letters, removing a checkpoint, the run lease, a commit, a reflected table), its caller gets a
SinkError that says why in words, never one of SQLAlchemy's types.

Each error is a real one, provoked in SQLite or PostgreSQL (a trigger that refuses, a dropped table, a
deferred constraint, a lock), not built by hand.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import MetaData, Table, text
from sqlalchemy.exc import SQLAlchemyError

import batchsync
from batchsync.database import database_errors, open_database
from batchsync.errors import (
    DatabaseCallError,
    DatabaseUnavailableError,
    RowRefusedError,
    SinkError,
)
from batchsync.models import RunStatus
from batchsync.state.bookkeeping import Bookkeeping, BookkeepingPolicy
from pysource_fixture import squares_config
from syncsupport import execute


def config(database_url: str) -> dict[str, Any]:
    """A pipeline that needs no API: 300 numbers and their squares from a Python source."""
    return squares_config(database_url, "numbers", count=300)


def synced(database_url: str) -> dict[str, Any]:
    """The config, after one complete run has made the destination and batchsync's own tables."""
    document = config(database_url)
    assert batchsync.run("squares", document).status is RunStatus.SUCCEEDED
    return document


def refuse(database_url: str, table: str, event: str, words: str) -> None:
    """A trigger that makes every `event` (INSERT, UPDATE, DELETE) on `table` fail with `words`."""
    if database_url.startswith("sqlite:"):
        execute(
            database_url,
            f"CREATE TRIGGER test_refuse BEFORE {event} ON {table} BEGIN SELECT RAISE(ABORT, '{words}'); END",
        )
        return
    execute(
        database_url,
        "CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{words}'; END $$",
    )
    execute(
        database_url,
        f"CREATE TRIGGER test_refuse BEFORE {event} ON {table} FOR EACH ROW EXECUTE FUNCTION test_refuse()",
    )


def write_into_a_dropped_table(database_url: str, table: str, event: str) -> None:
    """A trigger on `table` that writes into test_gone, a table then dropped: the database, not the
    data, fails every `event` from then on."""
    execute(database_url, "CREATE TABLE test_gone (x INTEGER)")
    if database_url.startswith("sqlite:"):
        execute(
            database_url,
            f"CREATE TRIGGER test_gone_writer BEFORE {event} ON {table} BEGIN "
            "INSERT INTO test_gone VALUES (1); END",
        )
    else:
        execute(
            database_url,
            "CREATE FUNCTION test_gone_writer() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN INSERT INTO test_gone VALUES (1); RETURN NEW; END $$",
        )
        execute(
            database_url,
            f"CREATE TRIGGER test_gone_writer BEFORE {event} ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION test_gone_writer()",
        )
    execute(database_url, "DROP TABLE test_gone")


def assert_in_words(error: BaseException, *words: str) -> None:
    assert isinstance(error, SinkError) and not isinstance(error, SQLAlchemyError), type(error).__mro__
    for word in words:
        assert word in str(error), str(error)


def test_a_sink_write_the_database_cannot_do_fails_the_run_in_words(database_url: str) -> None:
    document = synced(database_url)
    write_into_a_dropped_table(database_url, "squares", "UPDATE")  # the next pass marks rows seen

    result = batchsync.run("squares", document)

    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error.startswith("writing to squares failed: "), result.error
    assert "test_gone" in result.error


def test_a_dead_letter_listing_the_database_cannot_read_raises_a_sink_error(database_url: str) -> None:
    document = synced(database_url)
    execute(database_url, "ALTER TABLE batchsync_errors RENAME COLUMN error TO reason")

    with pytest.raises(SinkError) as raised:
        batchsync.dead_letters("squares", document)

    assert_in_words(raised.value, "error")


def test_removing_a_checkpoint_the_database_refuses_raises_a_sink_error(database_url: str) -> None:
    document = synced(database_url)
    refuse(database_url, "batchsync_checkpoints", "DELETE", "the test keeps this checkpoint")

    with pytest.raises(SinkError) as raised:
        batchsync.reset("squares", document)

    assert_in_words(raised.value, "the test keeps this checkpoint")


def test_a_lease_the_database_will_not_release_is_logged_and_the_run_succeeds(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    document = synced(database_url)
    refuse(database_url, "batchsync_leases", "DELETE", "the test keeps this lease")

    with caplog.at_level(logging.WARNING):
        result = batchsync.run("squares", document)

    assert result.status is RunStatus.SUCCEEDED
    assert any(
        "could not release the run lease (it expires by itself)" in message
        and "the test keeps this lease" in message
        for message in caplog.messages
    ), caplog.messages


def test_a_lease_the_database_will_not_grant_fails_the_run_in_words(database_url: str) -> None:
    document = synced(database_url)
    write_into_a_dropped_table(database_url, "batchsync_leases", "INSERT")

    with pytest.raises(SinkError) as raised:
        batchsync.run("squares", document)

    assert_in_words(raised.value, "cannot take the run lease: ", "test_gone")


def test_a_constraint_checked_at_commit_is_a_refused_row(database_url: str) -> None:
    engine = open_database(database_url, sink_errors=True)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
            connection.execute(
                text(
                    "CREATE TABLE child (parent_id INTEGER REFERENCES parent (id) "
                    "DEFERRABLE INITIALLY DEFERRED)"
                )
            )
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":  # outside a transaction, or SQLite ignores it
                connection.connection.driver_connection.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]
            with pytest.raises(RowRefusedError) as raised, connection.begin():
                connection.execute(text("INSERT INTO child VALUES (1)"))  # checked only at COMMIT
    finally:
        engine.dispose()

    assert raised.value.is_refusal
    assert_in_words(raised.value, "FOREIGN KEY" if database_url.startswith("sqlite:") else "foreign key")


def test_a_lock_held_past_the_busy_timeout_is_an_unavailable_database(tmp_path: Path) -> None:
    database = tmp_path / "sync.db"
    engine = open_database(f"sqlite:///{database}?timeout=0.1", sink_errors=True)
    locker = sqlite3.connect(database, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DatabaseUnavailableError) as raised, engine.begin():
            pass
    finally:
        locker.rollback()
        locker.close()
        engine.dispose()

    assert not raised.value.is_refusal
    assert_in_words(raised.value, "database is locked: another connection kept its write lock")


def test_a_lock_timeout_on_postgresql_is_an_unavailable_database(postgres_url: str) -> None:
    engine = open_database(postgres_url, sink_errors=True)
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(plain) as holder:
            holder.execute("CREATE TABLE t (x INTEGER)")
            holder.commit()
            holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")  # held until the block ends
            with pytest.raises(DatabaseUnavailableError) as raised, engine.begin() as connection:
                connection.execute(text("SET LOCAL lock_timeout = '100ms'"))
                connection.execute(text("SELECT * FROM t"))
    finally:
        engine.dispose()

    assert_in_words(raised.value, "database is locked: canceling statement due to lock timeout")


def test_the_bookkeeping_waits_out_a_lock_met_through_the_seam(tmp_path: Path) -> None:
    database = tmp_path / "sync.db"
    engine = open_database(f"sqlite:///{database}?timeout=30", sink_errors=True)
    locker = sqlite3.connect(database, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    bookkeeping = Bookkeeping(engine, BookkeepingPolicy(budget_seconds=0.6, first_lock_wait_seconds=0.2))

    def take_the_write_lock(bounded: Any) -> None:
        with bounded.begin():
            pass

    began = time.monotonic()
    try:
        with pytest.raises(DatabaseUnavailableError, match="database is locked"):
            bookkeeping.run(take_the_write_lock)
        waited = time.monotonic() - began
    finally:
        locker.rollback()
        locker.close()
        engine.dispose()

    assert 0.5 <= waited < 3, f"tried again until the budget was spent, not once: {waited}"


def test_a_table_that_cannot_be_reflected_is_a_database_error_in_words(database_url: str) -> None:
    engine = open_database(database_url, sink_errors=True)
    try:
        with pytest.raises(DatabaseCallError) as raised, database_errors():
            Table("no_such_table", MetaData(), autoload_with=engine)
    finally:
        engine.dispose()

    assert_in_words(raised.value, "no_such_table")


def test_a_connection_the_server_dropped_is_replaced_not_reported(postgres_url: str) -> None:
    engine = open_database(postgres_url, sink_errors=True)
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    try:
        with engine.connect() as connection:
            backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with psycopg.connect(plain, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
        with engine.connect() as connection:  # the pool's ping finds the dead connection and reconnects
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
