"""Opening the database and putting its errors into words: a lock and a full disk say so, by name.

Each error here is a real one, raised by SQLite or PostgreSQL, not built by hand.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from batchsync.database import database_error_reason, is_refusal, open_database, wait_seconds_of
from batchsync.errors import ConfigError


def error_of(url: str, *statements: str) -> SQLAlchemyError:
    engine = open_database(url, sink_errors=False)  # studies SQLAlchemy's own errors
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
    except SQLAlchemyError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError("no error")


def test_a_lock_held_past_the_busy_timeout_says_database_is_locked(tmp_path: Path) -> None:
    database = tmp_path / "sync.db"
    engine = open_database(f"sqlite:///{database}?timeout=0.1", sink_errors=False)
    locker = sqlite3.connect(database, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError) as raised, engine.begin():
            pass
    finally:
        locker.rollback()
        locker.close()
        engine.dispose()

    reason = database_error_reason(raised.value)

    assert reason.startswith("database is locked: another connection kept its write lock"), reason
    assert not is_refusal(raised.value)


def test_a_database_that_cannot_grow_says_disk_full(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sync.db'}"
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x TEXT)")
            connection.exec_driver_sql("PRAGMA max_page_count = 3")  # SQLite's own SQLITE_FULL
            with pytest.raises(OperationalError) as raised:
                for _ in range(100):
                    connection.exec_driver_sql("INSERT INTO t VALUES (?)", ("x" * 1000,))
    finally:
        engine.dispose()

    reason = database_error_reason(raised.value)

    assert reason.startswith("disk full: the database cannot grow (database or disk is full)"), reason
    assert not is_refusal(raised.value)


def test_a_refused_row_keeps_the_database_s_own_words(tmp_path: Path) -> None:
    error = error_of(
        f"sqlite:///{tmp_path / 'sync.db'}",
        "CREATE TABLE t (x INTEGER NOT NULL)",
        "INSERT INTO t VALUES (NULL)",
    )

    assert database_error_reason(error) == "NOT NULL constraint failed: t.x"
    assert is_refusal(error)


def test_a_lock_timeout_on_postgresql_says_database_is_locked(postgres_url: str) -> None:
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as holder:
        holder.execute("CREATE TABLE t (x INTEGER)")
        holder.commit()
        holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")  # held until the block ends

        error = error_of(postgres_url, "SET LOCAL lock_timeout = '100ms'", "SELECT * FROM t")

    assert database_error_reason(error).startswith("database is locked: canceling statement due to lock")


def test_the_sqlite_url_timeout_is_the_busy_timeout_and_must_be_seconds(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'a.db'}?timeout=2.5")
    default = open_database(f"sqlite:///{tmp_path / 'b.db'}")
    try:
        assert wait_seconds_of(engine) == 2.5 and wait_seconds_of(default) == 30
    finally:
        engine.dispose()
        default.dispose()
    with pytest.raises(ConfigError, match="timeout=soon in the SQLite URL must be a number of seconds"):
        open_database(f"sqlite:///{tmp_path / 'c.db'}?timeout=soon")
