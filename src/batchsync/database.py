"""Opening the database: one SQLAlchemy engine per run, with SQLite set up for safe, fast batch commits.

SQLite runs in WAL mode with `synchronous=NORMAL`: a committed batch survives a killed process (the
guarantee resumability needs) at a fraction of the cost of a full fsync per commit. Write transactions
start with `BEGIN IMMEDIATE` so a batch never fails half-way for want of the write lock.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Column, Engine, Table, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DisconnectionError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.ddl import ExecutableDDLElement

from batchsync import jsontext
from batchsync.errors import ConfigError, SinkError

_BUSY_TIMEOUT_MS = 30_000
T = TypeVar("T")


def describe_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


STATE_SCHEMA = "batchsync_state_schema_"
"""The schema batchsync's own tables are declared in; every engine maps it to the configured
`state_schema` (or to the default schema), so the same table definitions serve every setup."""


def state_schema_of(engine: Engine) -> str | None:
    """The real schema of batchsync's own tables on this engine (None: the default one)."""
    translate: dict[str | None, str | None] = engine.get_execution_options().get("schema_translate_map", {})
    return translate.get(STATE_SCHEMA)


def open_database(url: str, *, read_only: bool = False, state_schema: str | None = None) -> Engine:
    """An engine on `url`, checked by connecting once. Raises ConfigError or SinkError.

    `read_only` opens SQLite with `mode=ro`, so a dry run cannot change a byte of the file; a database
    that does not exist yet reads as empty.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"database: not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "postgres":  # the short scheme many providers hand out
        parsed = parsed.set(drivername="postgresql")
        backend = "postgresql"
    if backend == "postgresql" and parsed.drivername.partition("+")[2] not in ("", "psycopg"):
        raise ConfigError(f"database: use a postgresql:// URL (psycopg 3), not {parsed.drivername}://")
    if backend == "postgresql":
        engine = _postgres_engine(parsed, read_only)
    elif backend == "sqlite":
        engine = _sqlite_engine(parsed, read_only)
    else:
        raise ConfigError(f"database: {backend} is not supported; use a sqlite:/// or postgresql:// URL")
    try:
        with engine.connect() as connection:
            if not read_only:
                # Take the write lock once and let it go: a read-only file fails here, before any work.
                with connection.begin():
                    pass
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = getattr(exc, "orig", None) or exc
        raise SinkError(f"cannot open the database {describe_url(url)}: {reason}") from exc
    if state_schema is not None and engine.dialect.name != "postgresql":
        engine.dispose()
        raise ConfigError("state_schema applies to PostgreSQL; SQLite has one schema per file")
    return engine.execution_options(schema_translate_map={STATE_SCHEMA: state_schema})


def _postgres_engine(url: URL, read_only: bool) -> Engine:
    """PostgreSQL through psycopg 3. A dropped connection (server restart) is noticed before use."""
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    # JSON columns keep numbers exact both ways (Decimals out as their digits, back in as Decimals).
    engine = create_engine(
        url, pool_pre_ping=True, json_serializer=jsontext.dumps, json_deserializer=jsontext.parse
    )
    if read_only:

        @event.listens_for(engine, "connect")
        def _read_only(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            dbapi_connection.commit()

    return engine


def _sqlite_engine(url: URL, read_only: bool) -> Engine:
    database = url.database or ""
    is_memory = database in ("", ":memory:")
    if read_only and not is_memory:
        file = Path(database)
        if not file.exists():
            url = url.set(database=":memory:")
        elif Path(f"{database}-wal").exists():
            # Another connection is live: share its WAL index (read-only mode, no writes of ours).
            url = url.set(database=f"file:{file.resolve()}?mode=ro", query={"uri": "true"})
        else:
            # Nobody has the file open: read it as immutable, which creates no -wal or -shm file, so
            # a dry run or a status check leaves the directory exactly as it found it.
            url = url.set(database=f"file:{file.resolve()}?mode=ro&immutable=1", query={"uri": "true"})
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event, not pysqlite's guesswork, decide where transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        if not read_only and not is_memory:
            with contextlib.suppress(Exception):  # a read-only file keeps its journal mode
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


class AddColumn(ExecutableDDLElement):
    """`ALTER TABLE … ADD COLUMN …`, compiled per dialect from the column's own definition."""

    inherit_cache = False

    def __init__(self, table: Table, column: Column[Any]) -> None:
        self.table = table
        self.column = column


@compiles(AddColumn)
def _compile_add_column(element: AddColumn, compiler: Any, **kw: Any) -> str:
    definition = compiler.get_column_specification(element.column)
    return f"ALTER TABLE {compiler.preparer.format_table(element.table)} ADD COLUMN {definition}"


def retrying_when_disconnected(
    action: Callable[[], T], *, attempts: int = 20, wait_seconds: float = 0.5
) -> T:
    """Run `action`, trying again while the database is unreachable (a restart takes a moment).

    For the bookkeeping after a failed run — recording its end, releasing its lease — which must not be
    lost to the same outage that failed the run. Other errors, and the last attempt's, propagate.
    """
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except (OperationalError, DisconnectionError):
            if attempt == attempts:
                raise
            time.sleep(wait_seconds)
    raise AssertionError("unreachable")
