"""Where a pass's chunks of records become committed batches: here, on the run's own connection
(`LocalCommits`), or in a writer process (engine/offload/), which does the same with a connection of its
own while the run's process goes on fetching. The pass walker hands every chunk to one of them, in page
order, and reads back the checkpoints committed.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import Connection

from batchsync.engine.batches import BatchPosition, BatchWriter
from batchsync.engine.records import RecordRouter
from batchsync.models import Checkpoint, JSONObject


class Commits(Protocol):
    """Commits chunks in the order given, each with the checkpoint after it."""

    @property
    def last(self) -> Checkpoint:
        """The checkpoint of the last chunk known committed (the pass's start before any)."""
        ...

    def commit(
        self, records: list[JSONObject], position: BatchPosition, expected_total: int | None
    ) -> list[Checkpoint]:
        """Hand over a chunk of a page's records, which ends the page at `position`'s cursor; returns
        the checkpoints committed since the last call, oldest first (this chunk's, when done here).
        Raises what the batch's commit raises (SinkError, RecordError)."""
        ...

    def make_room(self) -> list[Checkpoint]:
        """Wait until another chunk may be handed over; returns the checkpoints committed meanwhile."""
        ...

    @property
    def held(self) -> int:
        """Chunks handed over and not committed yet: pages a crash would cost, as pages in flight do."""
        ...

    def finish(self) -> list[Checkpoint]:
        """Wait until every chunk handed over is committed; returns the checkpoints not yet returned."""
        ...

    def abandon(self) -> None:
        """Leave at once (Ctrl+C): chunks not committed yet are not, and their checkpoints with them."""
        ...


class LocalCommits:
    """Routes each chunk (rows, dead letters, filtered records) and commits it on `connection` now."""

    def __init__(
        self, router: RecordRouter, writer: BatchWriter, connection: Connection, start: Checkpoint
    ) -> None:
        self._router = router
        self._writer = writer
        self._connection = connection
        self.last = start

    def commit(
        self, records: list[JSONObject], position: BatchPosition, expected_total: int | None
    ) -> list[Checkpoint]:
        batch = self._router.route_all(records)
        self.last = self._writer.commit(self._connection, batch, self.last, position, expected_total)
        return [self.last]

    def make_room(self) -> list[Checkpoint]:
        return []  # each chunk is committed when handed over

    @property
    def held(self) -> int:
        return 0

    def finish(self) -> list[Checkpoint]:
        return []

    def abandon(self) -> None:
        return None
