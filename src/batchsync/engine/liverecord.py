"""A run's row in `batchsync_runs`, kept true batch by batch: what each committed batch did is added to
the row inside the batch's own transaction (state/runs.py, `record_batch`).

So the row can never claim less, or more, than the data holds: a run killed at any instant leaves the
counts, pages and API calls of exactly the batches it committed, and another process reads a running
run's progress from it. Counts come with each batch; API calls are read from the run's HTTP client, and
a call is reported once, by the first batch whose transaction commits after it.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection

from batchsync.models import Checkpoint, WriteCounts
from batchsync.state import runs


class LiveRunRecord:
    """Adds one run's batches to its row. `calls` returns the API calls and retries made so far;
    `reports_position` is False for a fan-out's child syncs, whose checkpoints are not the run's."""

    def __init__(self, run_id: str, *, calls: Callable[[], tuple[int, int]], reports_position: bool) -> None:
        self._run_id = run_id
        self._calls = calls
        self._reports_position = reports_position
        self._reported = (0, 0)
        self._pending = (0, 0)

    def add(
        self,
        connection: Connection,
        counts: WriteCounts,
        *,
        deleted: int,
        dead_letters: int,
        pages: int,
        checkpoint: Checkpoint | None,
    ) -> None:
        """Inside the batch's transaction, as its last statement. `checkpoint` is the one committed with
        the batch (None when the batch leaves the pass alone: a targeted sync)."""
        self._pending = self._calls()
        tally = runs.BatchTally(
            counts,
            deleted=deleted,
            dead_letters=dead_letters,
            pages=pages,
            api_calls=self._pending[0] - self._reported[0],
            retries=self._pending[1] - self._reported[1],
        )
        position = runs.position_of(checkpoint) if checkpoint and self._reports_position else None
        runs.record_batch(connection, self._run_id, tally, position)

    def settle(self) -> None:
        """After the transaction committed: the calls it reported are in the row. (Not called when it rolled
        back, so the next batch reports them.)"""
        self._reported = self._pending
