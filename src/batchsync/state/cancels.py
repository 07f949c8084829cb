"""Stopping a running run from anywhere: `batchsync cancel RUN_ID`, the control API or the dashboard
mark the run's row in `batchsync_runs`; the process running it, on this machine or another, reads the
mark and stops at its next batch boundary with its checkpoint saved, status `cancelled`.

The row is the one channel every process already shares, so a run started by the CLI in another
terminal is cancelled the same way as one the service started. The running process reads the mark
from a thread of its own (`CancelWatch`) once a second: a primary-key read, so a run's batches never
wait for it, and a stop request is seen within a second even when a batch takes minutes.
"""

from __future__ import annotations

import enum
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select, update

from batchsync.database import database_errors
from batchsync.errors import DatabaseCallError, SinkError
from batchsync.models import RunStatus
from batchsync.state.tables import runs, state_table_exists, state_version
from batchsync.timestamps import stamp

log = logging.getLogger("batchsync.cancel")

CANCELLED_ON_REQUEST = "cancelled on request (batchsync cancel, or the control API)"
POLL_SECONDS = 1.0


class CancelOutcome(enum.StrEnum):
    REQUESTED = "requested"
    """The mark is set (now, or by an earlier request): the run stops at its next batch boundary."""
    NOT_RUNNING = "not running"
    """The run has ended already; nothing to stop."""
    UNKNOWN = "unknown"
    """No run has that id."""


@dataclass(frozen=True, slots=True)
class CancelAnswer:
    outcome: CancelOutcome
    status: str | None = None
    """The run's status as the row has it (None for an unknown run)."""
    requested_at: str | None = None


def request_cancel(engine: Engine, run_id: str) -> CancelAnswer:
    """Mark run `run_id` for stopping, when it is running. Raises SinkError when the database refuses."""
    try:
        with database_errors(), engine.begin() as connection:
            if not state_table_exists(connection, runs) or state_version(connection) < 4:
                return CancelAnswer(CancelOutcome.UNKNOWN)  # no run has recorded anything here yet
            connection.execute(
                update(runs)
                .where(
                    runs.c.run_id == run_id,
                    runs.c.status == RunStatus.RUNNING.value,
                    runs.c.cancel_requested_at.is_(None),
                )
                .values(cancel_requested_at=stamp(datetime.now(UTC)))
            )
            row = connection.execute(
                select(runs.c.status, runs.c.cancel_requested_at).where(runs.c.run_id == run_id)
            ).first()
    except DatabaseCallError as exc:
        raise SinkError(f"cannot record the cancel request: {exc.reason}") from exc
    if row is None:
        return CancelAnswer(CancelOutcome.UNKNOWN)
    status, requested_at = row
    if status != RunStatus.RUNNING.value:
        return CancelAnswer(CancelOutcome.NOT_RUNNING, status, requested_at)
    return CancelAnswer(CancelOutcome.REQUESTED, status, requested_at)


def is_cancel_requested(engine: Engine, run_id: str) -> bool:
    """Whether run `run_id`'s row carries a cancel request (a worker asks before it starts a unit)."""
    try:
        with database_errors(), engine.connect() as connection:
            query = select(runs.c.cancel_requested_at).where(runs.c.run_id == run_id)
            return connection.execute(query).scalar_one_or_none() is not None
    except DatabaseCallError as exc:
        raise SinkError(f"cannot read the run's cancel mark: {exc.reason}") from exc


class CancelWatch:
    """Sets `stop` once run `run_id`'s row says a cancel was requested; read every `interval` seconds on
    a daemon thread from `start` until `close`. A read that fails (a locked or unreachable database) is
    tried again at the next tick: the run's own batches will meet the same database and say so."""

    def __init__(
        self, engine: Engine, run_id: str, stop: threading.Event, interval: float = POLL_SECONDS
    ) -> None:
        self._engine = engine
        self._run_id = run_id
        self._stop = stop
        self._interval = interval
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self.was_requested = False
        """Whether the stop came from a cancel request (and not from Ctrl+C, say)."""

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="batchsync-cancel", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def _watch(self) -> None:
        query = select(runs.c.cancel_requested_at).where(runs.c.run_id == self._run_id)
        while not self._closed.wait(self._interval):
            try:
                with database_errors(), self._engine.connect() as connection:
                    requested = connection.execute(query).scalar_one_or_none()
            except DatabaseCallError as exc:
                log.debug("cannot read the run's cancel mark yet: %s", exc.reason)
                continue
            if requested is not None:
                log.info("run %s: cancel requested at %s; stopping", self._run_id, requested)
                self.was_requested = True
                self._stop.set()
                return
