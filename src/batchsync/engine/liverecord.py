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

    def __init__(
        self,
        run_id: str,
        *,
        calls: Callable[[], tuple[int, int]],
        reports_position: bool,
        reported: tuple[int, int] = (0, 0),
    ) -> None:
        """`reported`: the calls and retries already in the row (added by another process's batches)."""
        self._run_id = run_id
        self._calls = calls
        self._reports_position = reports_position
        self._reported = reported
        self._pending = reported

    @property
    def reported(self) -> tuple[int, int]:
        """The API calls and retries this record has put in the row, counted from the run's start."""
        return self._reported

    def calls_now(self) -> tuple[int, int]:
        """The run's API calls and retries so far, as the next batch would report them."""
        return self._calls()

    def reported_elsewhere(self, reported: tuple[int, int]) -> None:
        """Another process's batches (a writer process's) put the calls up to `reported` in the row."""
        self._reported = self._pending = reported

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
