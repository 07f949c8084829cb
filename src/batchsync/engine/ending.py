"""The end of a run: record its outcome and release its lease, within one time budget
(state/bookkeeping.py), without letting that bookkeeping hide the run's own error.

When the database is locked or unreachable at the end, the run's error is logged first, then the retry;
if the budget runs out, the result still comes back, with a warning saying the end was not recorded. Its
committed batches and checkpoint stay, so the exit code still says whether work was done, and the next
run closes the record left `running`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from batchsync.errors import SinkError
from batchsync.models import RunResult, RunStatus
from batchsync.state import runs
from batchsync.state.bookkeeping import Bookkeeping
from batchsync.state.cancels import CANCELLED_ON_REQUEST, CancelWatch
from batchsync.state.leases import Lease

log = logging.getLogger("batchsync.engine")


def run_under_lease(
    engine: Engine,
    lease: Lease,
    started_at: datetime,
    run: Callable[[], RunResult],
    *,
    stop: threading.Event,
) -> RunResult:
    """Take `lease` (RunConflictError when another run holds it), `run`, then end the run: its outcome
    recorded and the lease released, or, when `run` raises, the lease released before the error goes on.
    While it runs, a cancel request in its row (state/cancels.py) sets `stop`, the event its batches
    check at every boundary."""
    lease.acquire(started_at)
    watch = CancelWatch(engine, lease.run_id, stop)
    watch.start()
    try:
        result = run()
    except BaseException:
        watch.close()
        release_after_crash(engine, lease)
        raise
    watch.close()
    if watch.was_requested and result.status is RunStatus.CANCELLED and result.error is None:
        result = dataclasses.replace(result, error=CANCELLED_ON_REQUEST)
    return end_run(engine, result, lease)


def end_run(engine: Engine, result: RunResult, lease: Lease) -> RunResult:
    """Record `result` in `batchsync_runs` and release `lease`. Never raises for an unavailable
    database: returns `result`, with a warning when its end could not be recorded."""
    report = _EndReport(result)
    bookkeeping = Bookkeeping(engine, on_first_delay=report.delayed)
    try:
        runs.record_finish(bookkeeping, result)
    except SinkError as exc:
        report.tell_run_error()
        note = f"{exc}; the batches committed before stay, and the next run closes this run's record"
        result = dataclasses.replace(result, warnings=(*result.warnings, note))
    finally:
        lease.release(bookkeeping)
    return result


def release_after_crash(engine: Engine, lease: Lease) -> None:
    """Release `lease` when the run ended by an exception (an internal error, Ctrl+C twice)."""
    lease.release(Bookkeeping(engine))


class _EndReport:
    """Tells the run's own error once, before anything about the bookkeeping."""

    def __init__(self, result: RunResult) -> None:
        self._result = result
        self._has_told = False

    def tell_run_error(self) -> None:
        if not self._has_told and self._result.error:
            log.error("%s %s: %s", self._result.pipeline, self._result.status.value, self._result.error)
        self._has_told = True

    def delayed(self, reason: str, remaining_seconds: float) -> None:
        self.tell_run_error()
        log.warning(
            "cannot record the run's end yet (%s); trying again for up to %.0fs", reason, remaining_seconds
        )
