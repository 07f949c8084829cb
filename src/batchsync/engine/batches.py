"""Committing one batch: its rows, its dead letters and the checkpoint after it, in one transaction.

This pairing is the whole resumability guarantee: whatever instant a run dies at, the database holds a
batch together with the checkpoint that points past it, or neither. The run's row in `batchsync_runs`
is brought up to date in the same transaction (engine/liverecord.py), so it tells the same story.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from sqlalchemy import Connection

from batchsync.engine.liverecord import LiveRunRecord
from batchsync.engine.records import Batch, FilteredRecord, dead_letter
from batchsync.errors import DatabaseCallError, RecordError, RowRefusedError, SinkError
from batchsync.models import Checkpoint, Cursor, DeadLetterReport, JSONObject, PickledByFields, WriteCounts
from batchsync.redaction import Redactor
from batchsync.sinks.base import Sink, WriteOutcome
from batchsync.sinks.mapping import MappedRow
from batchsync.sources.incremental import Incremental, later
from batchsync.state import checkpoints, deadletters
from batchsync.state.deadletters import DeadLetter


@dataclasses.dataclass(frozen=True, slots=True)
class BatchPosition(PickledByFields):
    """Where the pass stands once a batch is committed."""

    cursor: Cursor
    skip_records: int
    is_complete: bool

    @property
    def ends_page(self) -> bool:
        """Whether the batch is its page's last (a page written in several batches counts at its last)."""
        return self.skip_records == 0

    def checkpoint_after(
        self,
        checkpoint: Checkpoint,
        *,
        rows: int,
        seen: list[JSONObject],
        incremental: Incremental | None,
        expected_total: int | None,
        now: datetime,
    ) -> Checkpoint:
        """The checkpoint that follows `checkpoint` once a batch of `rows` rows ending here commits.
        `seen`: the records the watermark moves past, rows and filtered records alike (a filtered
        record is done with: the next pass need not fetch it again)."""
        max_seen = checkpoint.max_seen_watermark
        watermark = checkpoint.watermark
        if incremental is not None:
            max_seen = incremental.highest_in(seen, max_seen)
            if incremental.is_sorted or self.is_complete:
                watermark = later(watermark, max_seen)
        return dataclasses.replace(
            checkpoint,
            cursor=None if self.is_complete else self.cursor,
            skip_records=self.skip_records,
            is_complete=self.is_complete,
            pass_records=checkpoint.pass_records + rows,
            max_seen_watermark=max_seen,
            watermark=watermark,
            total_expected=expected_total,
            last_synced_at=now,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class WriterTally(PickledByFields):
    """What a writer's batches added to its totals: handed from a writer process to the run's writer."""

    counts: WriteCounts
    deleted: int
    records: int
    batches_committed: int
    dead_letters: tuple[DeadLetterReport, ...]
    has_dead_letters: bool


class BatchWriter:
    """Writes batches for one run and keeps its totals: counts, dead letters, records."""

    def __init__(
        self,
        pipeline: str,
        run_id: str,
        sink: Sink,
        *,
        incremental: Incremental | None,
        redactor: Redactor,
        fail_on_record_error: bool,
        dry_run: bool,
        has_dead_letters: bool,
        table_exists: bool,
        dead_letters_under: str,
        settles_dead_letters_at_pass_end: bool,
        updates_existing_rows: bool = False,
        on_missing: str = "keep",
        live_record: LiveRunRecord | None = None,
    ) -> None:
        """`pipeline` names the checkpoint the batches move. `dead_letters_under` is the name the batches'
        dead letters are filed (and resolved) under, which may differ from the checkpoint's.
        `settles_dead_letters_at_pass_end`: when a complete full pass commits, entries under that name
        from before the pass began are removed, every record having been processed again; leave it off
        when other writers file under the same name, or when a pass need not process every record.
        `updates_existing_rows`: rows set their columns on the row of their key that already exists
        (`Sink.update_columns`, counting updated / unchanged, creating nothing) instead of being upserted.
        `live_record` adds each committed batch to the run's row (None: no row, as in a dry run)."""
        self._pipeline = pipeline
        self._run_id = run_id
        self._sink = sink
        self._incremental = incremental
        self._redactor = redactor
        self._fail_on_record_error = fail_on_record_error
        self._dry_run = dry_run
        self._has_dead_letters = has_dead_letters
        self._table_exists = table_exists
        self._on_missing = on_missing
        self._letters_key = dead_letters_under
        self._settles_at_pass_end = settles_dead_letters_at_pass_end
        self._updates_existing_rows = updates_existing_rows
        self._live_record = live_record
        self.counts = WriteCounts()
        self.deleted = 0
        self.dead_letters: list[DeadLetterReport] = []
        self.records = 0
        self.batches_committed = 0

    @property
    def has_dead_letters(self) -> bool:
        """Whether any dead letters are filed under the writer's name (as far as it knows)."""
        return self._has_dead_letters

    def absorb(self, tally: WriterTally) -> None:
        """Add what another writer (a writer process, with these settings) committed to the totals."""
        self.counts += tally.counts
        self.deleted += tally.deleted
        self.records += tally.records
        self.batches_committed += tally.batches_committed
        self.dead_letters.extend(tally.dead_letters)
        self._has_dead_letters = self._has_dead_letters or tally.has_dead_letters

    def commit(
        self,
        connection: Connection,
        batch: Batch,
        checkpoint: Checkpoint,
        position: BatchPosition,
        expected_total: int | None,
        *,
        pages: int | None = None,
    ) -> Checkpoint:
        """Commit `batch` and the checkpoint at `position`; returns that checkpoint. `pages`: how many
        pages the batch ends (default: one when `position.ends_page`, else none). Raises SinkError, or
        RecordError when on_record_error is fail (the batch is then rolled back whole)."""
        seen = [row.record for row in batch.rows] + [item.record for item in batch.filtered]
        following = position.checkpoint_after(
            checkpoint,
            rows=len(batch.rows),
            seen=seen,
            incremental=self._incremental,
            expected_total=expected_total,
            now=datetime.now(UTC),
        )
        if pages is None:
            pages = 1 if position.ends_page else 0
        self._write(connection, batch, following, pages=pages)
        return following

    def commit_with_checkpoint(
        self, connection: Connection, batch: Batch, following: Checkpoint, *, pages: int
    ) -> None:
        """Commit `batch` with `following`, a checkpoint the caller worked out itself (a lookup's key
        position); `pages` is how many requests' answers the batch completes. Raises as `commit`."""
        self._write(connection, batch, following, pages=pages)

    def write_only(self, connection: Connection, batch: Batch) -> None:
        """Targeted sync: write rows and dead letters, leaving the pass checkpoint alone."""
        self._write(connection, batch, None, pages=1)

    def _write(
        self, connection: Connection, batch: Batch, following: Checkpoint | None, *, pages: int
    ) -> None:
        now = datetime.now(UTC)
        deleted = 0
        try:
            if self._dry_run:
                outcome = self._would_write(connection, batch.rows)
                letters = [*batch.dead_letters, *self._refused(outcome)]
            else:
                try:
                    outcome, letters, deleted = self._commit(connection, batch, following, now, pages=pages)
                except RowRefusedError:  # rolled back whole: again, finding the rows refused one by one
                    outcome, letters, deleted = self._commit(
                        connection, batch, following, now, pages=pages, isolate_refusals=True
                    )
        except DatabaseCallError as exc:  # "refused" only when it was: a lock or a full disk is not the data
            failed = "the database refused a batch" if exc.is_refusal else "cannot commit a batch"
            raise SinkError(f"{failed}: {exc.reason}") from exc
        self.deleted += deleted
        self.records += len(batch.rows) + len(letters) + len(batch.filtered)
        self.counts += outcome.counts + WriteCounts(filtered=len(batch.filtered))
        if not self._dry_run:
            self.batches_committed += 1
        self.dead_letters.extend(DeadLetterReport(letter.key, letter.error) for letter in letters)

    def _commit(
        self,
        connection: Connection,
        batch: Batch,
        following: Checkpoint | None,
        now: datetime,
        *,
        pages: int,
        isolate_refusals: bool = False,
    ) -> tuple[WriteOutcome, list[DeadLetter], int]:
        """The batch's transaction, committed. The first try leaves a refused row's error to end it
        (RowRefusedError, the transaction rolled back): on PostgreSQL, keeping a batch alive through a
        refusal takes a savepoint around it, two more statements per batch for what is rare. Then the
        batch is written again, `isolate_refusals`, each refused row found and dead-lettered."""
        with connection.begin():
            outcome, letters, deleted = self._write_in_transaction(
                connection, batch, following, now, isolate_refusals=isolate_refusals
            )
            if self._live_record is not None:
                self._live_record.add(
                    connection,
                    outcome.counts + WriteCounts(filtered=len(batch.filtered)),
                    deleted=deleted,
                    dead_letters=len(letters),
                    pages=pages,
                    checkpoint=following,
                )
        if self._live_record is not None:
            self._live_record.settle()
        return outcome, letters, deleted

    def _write_in_transaction(
        self,
        connection: Connection,
        batch: Batch,
        following: Checkpoint | None,
        now: datetime,
        *,
        isolate_refusals: bool,
    ) -> tuple[WriteOutcome, list[DeadLetter], int]:
        """Rows, dead letters, rows gone missing and the checkpoint, inside the caller's transaction:
        what the rows did, every dead letter (the database's refusals too), how many rows went."""
        if self._updates_existing_rows:
            outcome = WriteOutcome(self._sink.update_columns(connection, batch.rows, now))
        else:
            outcome = self._sink.write(connection, batch.rows, now, isolate_refusals=isolate_refusals)
        letters = [*batch.dead_letters, *self._refused(outcome)]
        self._settle_filtered(connection, batch.filtered, now)
        self._settle_dead_letters(connection, batch.rows, outcome, letters, following, now)
        deleted = 0
        if following is not None:
            deleted = self._settle_missing(connection, following, now)
            checkpoints.save(connection, self._pipeline, following)
        return outcome, letters, deleted

    def _refused(self, outcome: WriteOutcome) -> list[DeadLetter]:
        letters = [
            dead_letter(row.record, str(row.key), error, self._redactor, row.key)
            for row, error in outcome.rejected
        ]
        if letters and self._fail_on_record_error:
            raise RecordError(f"record {letters[0].key}: {letters[0].error}", key=letters[0].key)
        return letters

    def _settle_filtered(
        self, connection: Connection, filtered: tuple[FilteredRecord, ...], now: datetime
    ) -> None:
        """Rows of filtered records stay as they were, seen (on_missing keeps them); a dead letter of
        theirs from before is settled: the record is left out on purpose now."""
        keys = [item.row_key for item in filtered if item.row_key is not None]
        if not keys:
            return
        self._sink.mark_seen(connection, keys, now)
        if self._has_dead_letters:
            deadletters.resolve(connection, self._letters_key, (str(key) for key in keys))

    def _settle_dead_letters(
        self,
        connection: Connection,
        rows: tuple[MappedRow, ...],
        outcome: WriteOutcome,
        letters: list[DeadLetter],
        following: Checkpoint | None,
        now: datetime,
    ) -> None:
        if self._has_dead_letters and rows:
            refused = {row.key for row, _ in outcome.rejected}
            deadletters.resolve(
                connection, self._letters_key, (str(r.key) for r in rows if r.key not in refused)
            )
        if letters:
            deadletters.add(connection, self._letters_key, self._run_id, letters, now)
            self._has_dead_letters = True
            # The source still has these records, bad as they are: on_missing must not delete their rows.
            row_keys = [letter.row_key for letter in letters if letter.row_key is not None]
            if row_keys:
                self._sink.mark_seen(connection, row_keys, now)
        if following is None or not self._settles_at_pass_end:
            return
        is_full_pass = following.pass_watermark is None
        if following.is_complete and is_full_pass and self._has_dead_letters and following.pass_started_at:
            # Every record was processed again in this pass: entries from before it are settled.
            deadletters.remove_older_than(connection, self._letters_key, following.pass_started_at)

    def _settle_missing(self, connection: Connection, following: Checkpoint, now: datetime) -> int:
        """At the end of a complete full pass, rows it did not see are gone from the source."""
        is_full_pass = following.pass_watermark is None
        if self._on_missing == "keep" or not following.is_complete or not is_full_pass:
            return 0
        assert following.pass_started_at is not None
        return self._sink.mark_missing(
            connection, following.pass_started_at, delete=self._on_missing == "delete", now=now
        )

    def _would_write(self, connection: Connection, rows: tuple[MappedRow, ...]) -> WriteOutcome:
        """Dry run: classify against the table as it is (all new when it does not exist yet)."""
        if not self._table_exists:
            return WriteOutcome(WriteCounts(created=len(rows)))
        with connection.begin():
            if self._updates_existing_rows:
                return WriteOutcome(self._sink.classify_updates(connection, rows))
            return WriteOutcome(self._sink.classify(connection, rows))


class WriterTotals:
    """A write path's totals are those of the BatchWriter it commits through (`_writer`): the run reads
    them the same way whichever path wrote (a pull's passes, a lookup's refresher)."""

    _writer: BatchWriter

    @property
    def counts(self) -> WriteCounts:
        return self._writer.counts

    @property
    def dead_letters(self) -> list[DeadLetterReport]:
        return self._writer.dead_letters

    @property
    def records(self) -> int:
        return self._writer.records

    @property
    def deleted(self) -> int:
        return self._writer.deleted

    @property
    def batches_committed(self) -> int:
        return self._writer.batches_committed
