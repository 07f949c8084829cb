"""One run of a pipeline at a time, across processes and machines: a lease row with a heartbeat.

A run takes the pipeline's row in `batchsync_leases` in a write transaction, refreshes its heartbeat while
it works, and deletes the row at the end. Another run finding a live lease stops with the holder's run id
and start time. A lease whose holder died is taken over: at once when the holder was a process on this
host that has ended (gone, a zombie not yet reaped, or its pid now another process's: the row keeps the
holder's start time, see state/processes.py), otherwise once its heartbeat is older than
`lease_seconds`. The same rule holds on SQLite (within one machine) and PostgreSQL (across machines),
because it is only rows and transactions.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, RowMapping, delete, insert, select, update

from batchsync.database import database_errors
from batchsync.errors import DatabaseCallError, RunConflictError, SinkError
from batchsync.state import processes
from batchsync.state.bookkeeping import Bookkeeping
from batchsync.state.tables import leases, state_table_exists
from batchsync.timestamps import stamp

log = logging.getLogger("batchsync.leases")


class Lease:
    """The right to run one pipeline, held by one run until `release` (or until it stops beating)."""

    def __init__(self, engine: Engine, pipeline: str, run_id: str, lease_seconds: float) -> None:
        self._engine = engine
        self._pipeline = pipeline
        self._run_id = run_id
        self._lease_seconds = lease_seconds
        self._stop_beating = threading.Event()
        self._beater: threading.Thread | None = None

    @property
    def run_id(self) -> str:
        return self._run_id

    def acquire(self, started_at: datetime) -> None:
        """Take the lease or raise RunConflictError naming the run that holds it. `started_at` is the
        run's own start, so a refused run names the same time as `batchsync runs` shows."""
        now = datetime.now(UTC)
        host, pid = socket.gethostname(), os.getpid()
        try:
            with self._engine.begin() as connection:  # BEGIN IMMEDIATE on SQLite: one taker at a time
                holder = (
                    connection.execute(
                        select(leases).where(leases.c.pipeline == self._pipeline).with_for_update()
                    )
                    .mappings()
                    .first()
                )
                if holder is not None and self._is_live(holder, now):
                    raise RunConflictError(
                        f"{self._pipeline} is already running: run {holder['run_id']} started "
                        f"{holder['started_at'][:19].replace('T', ' ')} UTC on {holder['host']} "
                        f"(pid {holder['pid']}); wait for it to finish, or for its lease to expire "
                        f"{self._lease_seconds:.0f}s after its last heartbeat"
                    )
                values = {
                    "run_id": self._run_id,
                    "host": host,
                    "pid": pid,
                    "process_start_ticks": processes.start_ticks(pid),
                    "started_at": stamp(started_at),
                    "heartbeat_at": stamp(now),
                }
                if holder is None:
                    connection.execute(insert(leases).values(pipeline=self._pipeline, **values))
                else:
                    log.warning("taking over the expired lease of run %s", holder["run_id"])
                    connection.execute(
                        update(leases).where(leases.c.pipeline == self._pipeline).values(**values)
                    )
        except DatabaseCallError as exc:
            raise SinkError(f"cannot take the run lease: {exc.reason}") from exc
        self._beater = threading.Thread(target=self._beat, name="batchsync-lease", daemon=True)
        self._beater.start()

    def release(self, bookkeeping: Bookkeeping) -> None:
        """Stop beating and delete the lease row, within the bookkeeping's budget. Never raises: a lease
        that cannot be deleted expires by itself, and a run on this host takes it over at once."""
        self._stop_beating.set()
        if self._beater is not None:
            self._beater.join(timeout=min(5.0, bookkeeping.remaining_seconds()))

        def delete_own_row(engine: Engine) -> None:
            with engine.begin() as connection:
                connection.execute(
                    delete(leases).where(leases.c.pipeline == self._pipeline, leases.c.run_id == self._run_id)
                )

        try:
            with database_errors():
                bookkeeping.run(delete_own_row)
        except DatabaseCallError as exc:  # the lease will expire on its own: say so, do not fail the run
            log.warning("could not release the run lease (it expires by itself): %s", exc.reason)

    def _is_live(self, holder: RowMapping, now: datetime) -> bool:
        return is_live(holder, now, self._lease_seconds)

    def _beat(self) -> None:
        """Refresh the heartbeat a few times per lease period, from its own connection."""
        interval = max(self._lease_seconds / 3, 0.05)
        while not self._stop_beating.wait(interval):
            try:
                with database_errors(), self._engine.begin() as connection:
                    connection.execute(
                        update(leases)
                        .where(leases.c.pipeline == self._pipeline, leases.c.run_id == self._run_id)
                        .values(heartbeat_at=stamp(datetime.now(UTC)))
                    )
            except DatabaseCallError as exc:
                log.warning("lease heartbeat failed (will retry): %s", exc.reason)


def is_live(holder: RowMapping, now: datetime, lease_seconds: float) -> bool:
    """Whether the lease row `holder` still belongs to a running run (see the module docstring)."""
    if holder["host"] == socket.gethostname() and not processes.is_running(
        int(holder["pid"]), holder["process_start_ticks"]
    ):
        return False
    heartbeat = datetime.fromisoformat(str(holder["heartbeat_at"]))
    return now - heartbeat < timedelta(seconds=lease_seconds)


def live_holder(engine: Engine, pipeline: str, lease_seconds: float) -> RowMapping | None:
    """The lease row of the run now holding `pipeline`, or None when nobody does: what a caller about
    to start a run (the control API) reads to answer "already running" before it starts one."""
    with engine.connect() as connection:
        if not state_table_exists(connection, leases):
            return None
        holder = connection.execute(select(leases).where(leases.c.pipeline == pipeline)).mappings().first()
    if holder is None or not is_live(holder, datetime.now(UTC), lease_seconds):
        return None
    return holder
