"""Opening the database: one SQLAlchemy engine per run, with SQLite set up for safe, fast batch commits.

SQLite runs in WAL mode with `synchronous=NORMAL`: a committed batch survives a killed process (the
guarantee resumability needs) at a fraction of the cost of a full fsync per commit. Write transactions
start with `BEGIN IMMEDIATE` so a batch never fails half-way for want of the write lock; they wait for a
lock another connection holds for the URL's `?timeout=SECONDS` (default 30), then fail with "database is
locked".

PostgreSQL connections give up after DEFAULT_CONNECT_TIMEOUT_SECONDS unless the URL's `connect_timeout`
(or libpq's PGCONNECT_TIMEOUT) says otherwise: a host that takes the TCP connection and never answers,
or drops it silently, fails the command in one message rather than holding it for minutes.

This is the one seam where SQLAlchemy's errors become batchsync's. The engines the product opens
(`sink_errors=True`) turn every failed call into a `DatabaseCallError` through SQLAlchemy's `handle_error`
hook, which sees statements, commits, rollbacks and connecting; `database_errors()` covers the few calls
it does not see (table reflection, the pool, a driver connection used directly). Errors are put into
words here (`database_error_reason`), once: a locked database and a full disk say so, whatever statement
met them.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, Table, create_engine, event, make_url
from sqlalchemy.engine import URL, ExceptionContext
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.ddl import ExecutableDDLElement

from batchsync import jsontext
from batchsync.errors import (
    ConfigError,
    DatabaseCallError,
    DatabaseUnavailableError,
    RowRefusedError,
    SinkError,
)

DEFAULT_WAIT_SECONDS = 30.0
"""How long a write waits for SQLite's lock (unless the URL says `?timeout=`), and how long the
bookkeeping at a run's end waits, in all, for a database that is locked or unreachable."""

DEFAULT_CONNECT_TIMEOUT_SECONDS = 10
"""How long opening a PostgreSQL connection may take when neither the URL's `?connect_timeout=` nor
PGCONNECT_TIMEOUT says: libpq has no limit of its own and psycopg waits 130 s per host, so a database host
that accepts connections but never answers (a hung server, a proxy with nothing behind it, a black-holed
address) would hold every command, and every reconnect of the pool, for minutes. 10 s is far more than
a server that answers at all needs, and short enough that a command fails while someone is watching."""

_WAIT_SECONDS = "batchsync_wait_seconds"  # execution option: how long this database may be waited for
_LOCK_WAIT_MS = "batchsync_lock_wait_ms"  # execution option (and connection info): SQLite's busy timeout
_NEARLY_FULL_BYTES = 1 << 20  # less free space than this, and an I/O error is a full disk


def describe_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def database_error_reason(exc: BaseException, *, database_file: Path | None = None) -> str:
    """Why a database call failed, in words a user can act on; the driver's own text stays in them.

    A lock held too long and a full disk are named as such (SQLite's "disk I/O error" at open is, when
    the disk of `database_file` has no room left), so neither reads like a problem with the data.
    """
    if isinstance(exc, DatabaseCallError):  # put into words already, where it was raised
        return exc.reason
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip()
    sqlite_code = str(getattr(cause, "sqlite_errorname", ""))
    sqlstate = str(getattr(cause, "sqlstate", "") or "")
    if sqlite_code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return (
            "database is locked: another connection kept its write lock past the busy timeout "
            "(find that process, or wait longer with ?timeout=SECONDS in the database URL)"
        )
    if sqlstate == "55P03":  # lock_not_available: lock_timeout, NOWAIT
        return f"database is locked: {text}"
    if "ConnectionTimeout" in _class_names(cause):  # psycopg's: no answer within connect_timeout
        return (
            "the database server did not answer within the connect timeout (?connect_timeout=SECONDS in "
            f"the URL, default {DEFAULT_CONNECT_TIMEOUT_SECONDS}): check the host, the port and any "
            "firewall in between"
        )
    if sqlite_code == "SQLITE_FULL" or sqlstate == "53100" or "No space left on device" in text:
        return f"disk full: the database cannot grow ({text}); free space on its disk, then run again"
    if sqlite_code.startswith("SQLITE_IOERR") and database_file is not None and _is_disk_full(database_file):
        return f"disk full: no space left on the disk that holds {database_file} (SQLite said: {text})"
    return text


# PEP 249 gives a driver's error classes the same names in every driver, and SQLAlchemy's wrappers
# mirror them: so one test serves SQLAlchemy's errors and a driver's own (PostgreSQL's COPY).
_REFUSED_ROW = frozenset({"IntegrityError", "DataError"})
_REFUSED_STATEMENT = "ProgrammingError"
# What the bookkeeping at a run's end waits out. SQLite also reports a missing table this way.
_UNAVAILABLE = frozenset({"OperationalError", "DisconnectionError"})


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def is_refusal(exc: BaseException) -> bool:
    """Whether the database refused what was sent (a constraint, a value, a statement), rather than
    failing to do any work at all (locked, full, unreachable)."""
    if isinstance(exc, DatabaseCallError):
        return exc.is_refusal
    names = _class_names(exc)
    return bool(names & _REFUSED_ROW) or _REFUSED_STATEMENT in names


def is_unavailable(exc: BaseException) -> bool:
    """Whether the database was locked, unreachable or full (worth trying again a moment later), for
    an error of this seam and for SQLAlchemy's own alike."""
    if isinstance(exc, DatabaseCallError):
        return isinstance(exc, DatabaseUnavailableError)
    return isinstance(exc, SQLAlchemyError) and bool(_class_names(exc) & _UNAVAILABLE)


def as_database_error(exc: BaseException, *, database_file: Path | None = None) -> DatabaseCallError:
    """The batchsync error for a failed database call: SQLAlchemy's, or a driver's own."""
    if isinstance(exc, DatabaseCallError):
        return exc
    reason = database_error_reason(exc, database_file=database_file)
    names = _class_names(exc)
    if names & _REFUSED_ROW:
        return RowRefusedError(reason)
    if names & _UNAVAILABLE:
        return DatabaseUnavailableError(reason)
    return DatabaseCallError(reason, is_refusal=_REFUSED_STATEMENT in names)


@contextlib.contextmanager
def database_errors(*driver_errors: type[Exception]) -> Iterator[None]:
    """Raise what fails inside as a DatabaseCallError: for the calls an engine's `handle_error` hook
    does not see (table reflection, the pool's own errors, `driver_errors` from a driver's connection
    used directly). Errors that are batchsync's already pass unchanged."""
    caught: tuple[type[Exception], ...] = (SQLAlchemyError, *driver_errors)
    try:
        yield
    except caught as exc:
        raise as_database_error(exc) from exc


def _raise_database_errors(engine: Engine, database_file: Path | None) -> None:
    """Make every failed call on `engine` raise a DatabaseCallError instead of SQLAlchemy's error."""

    @event.listens_for(engine, "handle_error", retval=True)
    def _translate(context: ExceptionContext) -> BaseException | None:
        if context.is_pre_ping:  # the pool expects its ping's own error, to reconnect
            return None
        exc = context.sqlalchemy_exception or context.original_exception
        if not isinstance(exc, SQLAlchemyError):  # not the database's (an interrupt, a bug): unchanged
            return None
        return as_database_error(exc, database_file=database_file)


def _is_disk_full(database_file: Path) -> bool:
    folder = database_file.parent
    try:
        return shutil.disk_usage(folder if folder.exists() else Path.cwd()).free < _NEARLY_FULL_BYTES
    except OSError:
        return False


STATE_SCHEMA = "batchsync_state_schema_"
"""The schema batchsync's own tables are declared in; every engine maps it to the configured
`state_schema` (or to the default schema), so the same table definitions serve every setup."""


def state_schema_of(engine: Engine) -> str | None:
    """The real schema of batchsync's own tables on this engine (None: the default one)."""
    translate: dict[str | None, str | None] = engine.get_execution_options().get("schema_translate_map", {})
    return translate.get(STATE_SCHEMA)


def is_sqlite_url(url: str) -> bool:
    """Whether `url` names an SQLite database (a file on one machine). False for anything unparseable:
    opening it says what is wrong."""
    try:
        return make_url(url).get_backend_name() == "sqlite"
    except ArgumentError:
        return False


def open_database(
    url: str, *, read_only: bool = False, state_schema: str | None = None, sink_errors: bool = True
) -> Engine:
    """An engine on `url`, checked by connecting once. Raises ConfigError or SinkError.

    `read_only` opens SQLite with `mode=ro`, so a dry run cannot change a byte of the file; a database
    that does not exist yet reads as empty. `sink_errors`: every failed call on the engine raises a
    DatabaseCallError (what the product wants: callers never see SQLAlchemy's types); without it, the
    engine raises SQLAlchemy's own errors, for code that studies them (this module's tests).
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
    wait_seconds = DEFAULT_WAIT_SECONDS
    database_file: Path | None = None
    if backend == "postgresql":
        _require_psycopg()
        engine = _postgres_engine(parsed, read_only)
    elif backend == "sqlite":
        wait_seconds = _sqlite_wait_seconds(parsed)
        engine = _sqlite_engine(parsed, read_only, wait_seconds)
        if parsed.database not in (None, "", ":memory:"):
            database_file = Path(parsed.database)
    else:
        raise ConfigError(f"database: {backend} is not supported; use a sqlite:/// or postgresql:// URL")
    if sink_errors:
        _raise_database_errors(engine, database_file)
    try:
        with engine.connect() as connection:
            if not read_only:
                # Take the write lock once and let it go: a read-only file fails here, before any work.
                with connection.begin():
                    pass
    except (SQLAlchemyError, DatabaseCallError) as exc:
        engine.dispose()
        reason = database_error_reason(exc, database_file=database_file)
        raise SinkError(f"cannot open the database {describe_url(url)}: {reason}") from exc
    if state_schema is not None and engine.dialect.name != "postgresql":
        engine.dispose()
        raise ConfigError("state_schema applies to PostgreSQL; SQLite has one schema per file")
    return engine.execution_options(
        schema_translate_map={STATE_SCHEMA: state_schema}, **{_WAIT_SECONDS: wait_seconds}
    )


def wait_seconds_of(engine: Engine) -> float:
    """How long this database may be waited for: SQLite's busy timeout, or DEFAULT_WAIT_SECONDS."""
    return float(engine.get_execution_options().get(_WAIT_SECONDS, DEFAULT_WAIT_SECONDS))


def with_lock_wait(engine: Engine, seconds: float) -> Engine:
    """The same engine (same pool), whose transactions wait at most `seconds` for SQLite's write lock.

    For the bookkeeping at a run's end, which must fit in its own budget however long the busy timeout
    is. PostgreSQL ignores it.
    """
    return engine.execution_options(**{_LOCK_WAIT_MS: max(int(seconds * 1000), 0)})


def _sqlite_wait_seconds(url: URL) -> float:
    """`?timeout=SECONDS` from the URL: the sqlite3 driver's own parameter, here also the busy timeout."""
    value = url.query.get("timeout")
    if value is None:
        return DEFAULT_WAIT_SECONDS
    try:
        seconds = float(value if isinstance(value, str) else value[-1])
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise ConfigError(f"database: timeout={value} in the SQLite URL must be a number of seconds (>= 0)")
    return seconds


def _require_psycopg() -> None:
    """PostgreSQL's driver is an optional extra (SQLite users do without it): without it, a PostgreSQL URL
    is a ConfigError saying how to install it, before anything is opened or written."""
    try:
        importlib.import_module("psycopg")
    except ImportError as exc:
        raise ConfigError(
            "database: PostgreSQL needs its driver, psycopg, which is not installed: "
            "pip install 'batchsync[postgres]'"
        ) from exc


def _postgres_engine(url: URL, read_only: bool) -> Engine:
    """PostgreSQL through psycopg 3. A dropped connection (server restart) is noticed before use."""
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    # JSON columns keep numbers exact both ways (Decimals out as their digits, back in as Decimals).
    engine = create_engine(
        url,
        pool_pre_ping=True,
        json_serializer=jsontext.dumps,
        json_deserializer=jsontext.parse,
        connect_args=_postgres_connect_args(url),
    )
    if read_only:

        @event.listens_for(engine, "connect")
        def _read_only(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            dbapi_connection.commit()

    return engine


def _postgres_connect_args(url: URL) -> dict[str, Any]:
    """What psycopg gets beside the URL: the default connect timeout when neither the URL nor
    PGCONNECT_TIMEOUT sets one. Not otherwise: SQLAlchemy lays `connect_args` over the URL's query (so it
    would override the user's `?connect_timeout=`), and a keyword overrides libpq's environment."""
    if "connect_timeout" in url.query or os.environ.get("PGCONNECT_TIMEOUT"):
        return {}
    return {"connect_timeout": DEFAULT_CONNECT_TIMEOUT_SECONDS}


_READS_ONLY = "batchsync_reads_only"


def reading_engine(engine: Engine) -> Engine:
    """`engine` for transactions that only read, sharing its pool: on SQLite they begin deferred (`BEGIN`)
    rather than taking the write lock, so many readers (the control API's requests) never wait for a
    run's batch nor it for them, and each sees every commit. Not for writing: a write in such a
    transaction can fail with "database is locked" instead of waiting."""
    return engine.execution_options(**{_READS_ONLY: True})


def _sqlite_engine(url: URL, read_only: bool, wait_seconds: float) -> Engine:
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
    busy_timeout_ms = int(wait_seconds * 1000)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, record: Any) -> None:
        # Let SQLAlchemy's "begin" event, not pysqlite's guesswork, decide where transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        record.info[_LOCK_WAIT_MS] = busy_timeout_ms
        if not read_only and not is_memory:
            with contextlib.suppress(Exception):  # a read-only file keeps its journal mode
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        lock_wait_ms = connection.get_execution_options().get(_LOCK_WAIT_MS, busy_timeout_ms)
        if connection.info.get(_LOCK_WAIT_MS) != lock_wait_ms:  # set (or set back) for this transaction
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {lock_wait_ms}")
            connection.info[_LOCK_WAIT_MS] = lock_wait_ms
        reads_only = read_only or connection.get_execution_options().get(_READS_ONLY, False)
        connection.exec_driver_sql("BEGIN" if reads_only else "BEGIN IMMEDIATE")

    return engine


class AddColumn(ExecutableDDLElement):
    """`ALTER TABLE … ADD COLUMN …`, compiled per dialect from the column's own definition."""

    inherit_cache = False

    def __init__(self, table: Table, column: Column[Any]) -> None:
        self.table = table
        self.column = column


@compiles(AddColumn)
def _compile_add_column(element: AddColumn, compiler: Any, **_kw: Any) -> str:
    definition = compiler.get_column_specification(element.column)
    return f"ALTER TABLE {compiler.preparer.format_table(element.table)} ADD COLUMN {definition}"
