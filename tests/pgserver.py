"""A throwaway PostgreSQL cluster for the test session: the real server behind the `postgres_*` fixtures.

`PostgresServer.start()` finds the server binaries, runs `initdb` into a fresh temporary directory, and
starts `postgres` through `pg_ctl` on a free port of 127.0.0.1 with settings that trade durability for
speed (fsync off: the cluster is deleted at the end anyway). Each test gets its own database from
`fresh_database()`, so tests never see each other's tables. `restart()` lets a test pull the server out
from under a running sync, `pause()` and `resume()` keep it away for as long as the test likes; `stop()`
shuts it down and deletes the directory.

initdb and postgres refuse to run as root, and the suite runs as root here and in CI, so as root the
cluster belongs to a system user (`batchsync-pg`, created on first use) and the commands run as that user.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import glob
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

SYSTEM_USER = "batchsync-pg"
SUPERUSER = "batchsync"
SESSION_DATABASE = "batchsync"
DIRECTORY_PREFIX = "batchsync-pg-"
START_TIMEOUT_SECONDS = 60
CONNECT_TIMEOUT_SECONDS = 30

# Durability is worthless for a cluster that lives one test session; these make DDL and commits cheap.
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_connections": "200",
    "shared_buffers": "128MB",
    "checkpoint_timeout": "1h",
    "max_wal_size": "4GB",
    "jit": "off",
    "autovacuum": "off",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "timezone": "'UTC'",
}

# Unix-socket connections for pg_ctl and the superuser; TCP only from 127.0.0.1 (no ::1, nothing else).
HBA_RULES = "local all all trust\nhost all all 127.0.0.1/32 trust\n"


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server binaries on this machine: install the `postgresql` package."""


class PostgresStartError(RuntimeError):
    """initdb, pg_ctl or the server itself failed; the message carries the command output or log tail."""


@dataclass(frozen=True, slots=True)
class Binaries:
    """The directory holding initdb, pg_ctl and postgres of one PostgreSQL installation."""

    bindir: Path

    @property
    def initdb(self) -> str:
        return str(self.bindir / "initdb")

    @property
    def pg_ctl(self) -> str:
        return str(self.bindir / "pg_ctl")


def find_binaries() -> Binaries:
    """Where the server binaries live: `pg_config --bindir`, Debian's versioned dirs (newest first), PATH.

    `pg_config` alone proves nothing (libpq-dev ships it without a server), so every candidate must hold
    all three programs. Raises PostgresUnavailableError when none does.
    """
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if result.returncode == 0 and result.stdout.strip():
            candidates.append(Path(result.stdout.strip()))
    debian_dirs = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted((Path(d) for d in debian_dirs), key=_major_version, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if all(os.access(bindir / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return Binaries(bindir)
    raise PostgresUnavailableError(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found via pg_config, "
        "/usr/lib/postgresql/*/bin or PATH"
    )


def _major_version(bindir: Path) -> int:
    version = bindir.parent.name
    return int(version) if version.isdigit() else 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _system_user() -> pwd.struct_passwd:
    """The unprivileged account that owns the cluster when we run as root, created on first use."""
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        pass
    command = ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent"]
    command += ["--shell", "/usr/sbin/nologin", "--comment", "batchsync test PostgreSQL", SYSTEM_USER]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        # A concurrent test session may have created it between our lookup and useradd.
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        reason = result.stderr.strip()
        raise PostgresStartError(f"cannot create system user {SYSTEM_USER}: {reason}") from None


def _remove_stale_clusters(parent: Path) -> None:
    """Shut down and delete clusters left by test sessions that were killed before their teardown ran.

    Only directories this module made are touched, only when the session that made them is gone, and the
    postmaster is signalled only when its command line names that directory. Needs /proc (Linux).
    """
    if not sys.platform.startswith("linux"):
        return
    for directory in parent.glob(f"{DIRECTORY_PREFIX}*"):
        try:
            owner_pid = int((directory / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        if _is_running(owner_pid):
            continue
        postmaster_pid = _postmaster_pid(directory / "data")
        if postmaster_pid is not None and _is_running(postmaster_pid):
            with contextlib.suppress(OSError):
                if str(directory / "data").encode() in Path(f"/proc/{postmaster_pid}/cmdline").read_bytes():
                    os.kill(postmaster_pid, signal.SIGQUIT)  # immediate shutdown
                    deadline = time.monotonic() + 10
                    while _is_running(postmaster_pid) and time.monotonic() < deadline:
                        time.sleep(0.05)
        shutil.rmtree(directory, ignore_errors=True)


def _is_running(pid: int) -> bool:
    """Whether the process exists and is not a zombie (a zombie still answers kill(pid, 0))."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _postmaster_pid(data: Path) -> int | None:
    try:
        return int((data / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


_PR_SET_CHILD_SUBREAPER = 36  # from <linux/prctl.h>


@contextlib.contextmanager
def _adopting_orphans() -> Iterator[None]:
    """Make this process the parent of the postmaster that pg_ctl daemonizes, while pg_ctl runs.

    pg_ctl starts postgres in the background and exits, so the postmaster is re-parented. By default it
    goes to PID 1, and in the containers we run in PID 1 reaps late: every stopped server then lingers
    as a `[postgres] <defunct>` entry for a while. As a child subreaper we inherit it and reap it
    ourselves in `_reap`. Linux only; elsewhere (or if prctl refuses) this does nothing.
    """
    prctl = _prctl()
    is_subreaper = prctl is not None and prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    try:
        yield
    finally:
        if is_subreaper and prctl is not None:
            prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def _reap(pid: int | None, timeout_seconds: float = 10) -> None:
    """Collect the exit status of a postmaster we adopted, so it leaves no zombie behind."""
    if pid is None:
        return
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            reaped, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return  # not our child: PID 1 adopted it
        if reaped or time.monotonic() > deadline:
            return
        time.sleep(0.02)


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory, reachable at `url` while running.

    Use as a context manager, or call `start()` and `stop()`. Every database it hands out is reached as
    the superuser `batchsync` over TCP on 127.0.0.1 with trust authentication (no password).
    """

    def __init__(self, binaries: Binaries | None = None) -> None:
        self._binaries = binaries or find_binaries()
        self._directory: Path | None = None
        self._port: int | None = None
        self._run_as: pwd.struct_passwd | None = None
        self.startup_seconds: float | None = None

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> PostgresServer:
        """initdb + start + create the session database; raises PostgresStartError with the reason."""
        began = time.monotonic()
        self._run_as = _system_user() if os.geteuid() == 0 else None
        parent = Path(tempfile.gettempdir())
        _remove_stale_clusters(parent)
        self._directory = Path(tempfile.mkdtemp(prefix=DIRECTORY_PREFIX, dir=parent))
        atexit.register(self.stop)
        try:
            (self._directory / "owner.pid").write_text(str(os.getpid()))
            if self._run_as is not None:
                os.chown(self._directory, self._run_as.pw_uid, self._run_as.pw_gid)
            self._initdb()
            self._start_on_free_port()
            self._wait_until_accepting()
            self._create_database(SESSION_DATABASE)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: open connections are dropped; returns once new ones are accepted."""
        old_pid = _postmaster_pid(self._data)
        with _adopting_orphans():
            self._pg_ctl("restart", "-m", "fast")
        _reap(old_pid)
        self._wait_until_accepting()

    def pause(self) -> None:
        """`pg_ctl stop -m fast`, keeping the cluster: the server is down until `resume()`."""
        old_pid = _postmaster_pid(self._data)
        self._pg_ctl("stop", "-m", "fast")
        _reap(old_pid)

    def resume(self) -> None:
        """Start the paused server again on the same port; returns once it accepts connections."""
        with _adopting_orphans():
            self._pg_ctl("start")
        self._wait_until_accepting()

    def stop(self) -> None:
        """Shut the server down and delete its directory. Safe to call twice or after a failed start."""
        directory, self._directory = self._directory, None
        if directory is None:
            return
        try:
            pid = _postmaster_pid(directory / "data")
            if pid is not None:
                # Immediate: no shutdown checkpoint, the files are deleted next anyway.
                self._pg_ctl("stop", "-m", "immediate", data=directory / "data", check=False)
                _reap(pid)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
            atexit.unregister(self.stop)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- databases -------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None or self._directory is None:
            raise RuntimeError("the PostgreSQL server is not running")
        return self._port

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the session database: postgresql+psycopg://batchsync@127.0.0.1:PORT/batchsync."""
        return self.database_url(SESSION_DATABASE)

    def database_url(self, name: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{name}"

    def create_database(self) -> str:
        """Create an empty database with a unique name (from template0) and return the name."""
        name = f"test_{uuid.uuid4().hex[:16]}"
        self._create_database(name)
        return name

    def _create_database(self, name: str) -> None:
        # template0, not template1: nothing a test or the server put into template1 can leak in.
        self._admin(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        """Drop the database, ending any connections a test left open to it (FORCE, PostgreSQL 13+)."""
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    @contextlib.contextmanager
    def fresh_database(self) -> Iterator[str]:
        """A new empty database for the duration of the block; yields its URL, drops it afterwards."""
        name = self.create_database()
        try:
            yield self.database_url(name)
        finally:
            self.drop_database(name)

    # -- internals -------------------------------------------------------------------------------------

    @property
    def _data(self) -> Path:
        if self._directory is None:
            raise RuntimeError("the PostgreSQL server is not running")
        return self._directory / "data"

    def _initdb(self) -> None:
        command = [self._binaries.initdb, "--pgdata", str(self._data), "--username", SUPERUSER]
        command += ["--auth", "trust", "--encoding", "UTF8", "--no-locale", "--no-sync", "--no-instructions"]
        self._run(command)
        self._write(self._data / "pg_hba.conf", HBA_RULES)

    def _start_on_free_port(self) -> None:
        # The port is free when probed but another process may take it before postgres binds: retry.
        for attempt in range(3):
            self._port = _free_port()
            settings = {
                **SERVER_SETTINGS,
                "port": str(self._port),
                "unix_socket_directories": f"'{self._directory}'",
            }
            self._write(
                self._data / "postgresql.auto.conf",
                "".join(f"{key} = {value}\n" for key, value in settings.items()),
            )
            try:
                with _adopting_orphans():
                    self._pg_ctl("start")
                return
            except PostgresStartError:
                if attempt == 2:
                    raise

    def _write(self, path: Path, text: str) -> None:
        path.write_text(text)
        if self._run_as is not None:
            os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)

    def _wait_until_accepting(self) -> None:
        deadline = time.monotonic() + CONNECT_TIMEOUT_SECONDS
        while True:
            try:
                with self._connect(dbname="postgres", connect_timeout=2) as connection:
                    connection.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    message = f"server did not accept connections: {exc}\n{self._log_tail()}"
                    raise PostgresStartError(message) from exc
                time.sleep(0.05)

    def _admin(self, statement: sql.Composed) -> None:
        with self._connect(dbname="postgres", connect_timeout=CONNECT_TIMEOUT_SECONDS) as connection:
            connection.execute(statement)

    def _connect(self, dbname: str, connect_timeout: int) -> psycopg.Connection[TupleRow]:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=SUPERUSER,
            dbname=dbname,
            autocommit=True,
            connect_timeout=connect_timeout,
            sslmode="disable",
        )

    def _pg_ctl(self, action: str, *options: str, data: Path | None = None, check: bool = True) -> None:
        data = data or self._data
        log = data.parent / "server.log"
        timeout = str(START_TIMEOUT_SECONDS)
        command = [self._binaries.pg_ctl, action, "--pgdata", str(data), "--log", str(log), "--wait"]
        command += ["--timeout", timeout, *options]
        self._run(command, check=check)

    def _run(self, command: list[str], check: bool = True) -> None:
        """Run a PostgreSQL program as the cluster's owner, with no PG* variables leaking in from outside."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["LC_ALL"] = "C"
        user = self._run_as
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            env=env,
            cwd=self._directory or "/",
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
            umask=0o077,
        )
        if check and result.returncode != 0:
            output = result.stdout + result.stderr
            raise PostgresStartError(
                f"{shlex.join(command)} exited {result.returncode}:\n{output}{self._log_tail()}"
            )

    def _log_tail(self, lines: int = 30) -> str:
        if self._directory is None:
            return ""
        try:
            text = (self._directory / "server.log").read_text(errors="replace")
        except OSError:
            return ""
        return "server log:\n" + "\n".join(text.splitlines()[-lines:])
