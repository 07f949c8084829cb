"""Where a pass's chunks of records become committed batches: here, on the run's own connection
(`LocalCommits`), or in a writer process (engine/offload/), which does the same with a connection of its
own while the run's process goes on fetching. The pass walker hands every chunk to one of them, in page
order, and reads back the checkpoints committed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection

from batchsync.engine.batches import BatchPosition, BatchWriter
from batchsync.engine.records import Batch, RecordRouter
from batchsync.errors import RecordError, SinkError
from batchsync.models import Checkpoint, JSONObject, RecordsText


@dataclass(frozen=True, slots=True)
class PageChunk:
    """A chunk of a page's records, which ends the page at `position`'s cursor."""

    records: list[JSONObject]
    position: BatchPosition
    expected_total: int | None


class Commits(Protocol):
    """Commits chunks in the order given, each with the checkpoint after it."""

    @property
    def last(self) -> Checkpoint:
        """The checkpoint of the last chunk known committed (the pass's start before any)."""
        ...

    def commit(
        self,
        records: list[JSONObject],
        position: BatchPosition,
        expected_total: int | None,
        *,
        text: RecordsText | None = None,
    ) -> list[Checkpoint]:
        """Hand over a chunk of a page's records, which ends the page at `position`'s cursor; returns
        the checkpoints committed since the last call, oldest first (this chunk's, when done here).
        `text`: the same records as the JSON text they were read from, when the chunk is a whole page.
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
        self,
        records: list[JSONObject],
        position: BatchPosition,
        expected_total: int | None,
        *,
        text: RecordsText | None = None,  # noqa: ARG002 (the records themselves are here already)
    ) -> list[Checkpoint]:
        batch = self._router.route_all(records)
        self.last = self._writer.commit(self._connection, batch, self.last, position, expected_total)
        return [self.last]

    def commit_together(self, chunks: Sequence[PageChunk]) -> Iterator[tuple[Checkpoint, int]]:
        """Commit consecutive chunks with as few transactions as their being committed one by one allows:
        all in one when no key is in two of them, otherwise one each. Yields each transaction's
        checkpoint and how many chunks it committed. The outcome is the one of committing them one by
        one: when a record fails (on_record_error: fail) or the database refuses the transaction, the
        chunks before the failing one are committed, each in its own transaction if need be, and the
        error is raised where it would have been. The writer process commits the chunks waiting for it
        this way: a page per transaction costs a commit, a checkpoint and a run-row update per page."""
        batches: list[Batch] = []
        failure: RecordError | None = None
        for chunk in chunks:
            try:
                batches.append(self._router.route_all(chunk.records))
            except RecordError as exc:  # the chunks before it are committed, as they would have been
                failure = exc
                break
        yield from self._commit_routed(chunks[: len(batches)], batches)
        if failure is not None:
            raise failure

    def _commit_routed(
        self, chunks: Sequence[PageChunk], batches: list[Batch]
    ) -> Iterator[tuple[Checkpoint, int]]:
        if len(batches) > 1 and _keys_apart(batches):
            ends = sum(1 for chunk in chunks if chunk.position.ends_page)
            last = chunks[-1]
            try:
                self.last = self._writer.commit(
                    self._connection,
                    Batch.joined(batches),
                    self.last,
                    last.position,
                    last.expected_total,
                    pages=ends,
                )
            except (RecordError, SinkError):
                pass  # rolled back whole: one by one, the chunks before the failing one are committed
            else:
                yield self.last, len(batches)
                return
        for chunk, batch in zip(chunks, batches, strict=True):
            self.last = self._writer.commit(
                self._connection, batch, self.last, chunk.position, chunk.expected_total
            )
            yield self.last, 1

    def make_room(self) -> list[Checkpoint]:
        return []  # each chunk is committed when handed over

    @property
    def held(self) -> int:
        return 0

    def finish(self) -> list[Checkpoint]:
        return []

    def abandon(self) -> None:
        return None


def _keys_apart(batches: Sequence[Batch]) -> bool:
    """Whether no key is in two of the batches (as a row, a filtered record or a dead letter): then one
    transaction for all of them leaves every row, dead letter and count as one per batch would."""
    seen: set[str] = set()
    for batch in batches:
        # As text, as dead letters are filed: a letter's key is its record's key before conversion.
        keys = {str(row.key) for row in batch.rows}
        keys.update(str(item.row_key) for item in batch.filtered if item.row_key is not None)
        keys.update(letter.key for letter in batch.dead_letters if letter.key is not None)
        keys.update(str(letter.row_key) for letter in batch.dead_letters if letter.row_key is not None)
        if not seen.isdisjoint(keys):
            return False
        seen |= keys
    return True
