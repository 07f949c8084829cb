"""Committing one batch: its rows, its dead letters and the checkpoint after it, in one transaction.

This pairing is the whole resumability guarantee: whatever instant a run dies at, the database holds a
batch together with the checkpoint that points past it, or neither. The run's row in `batchsync_runs`
is brought up to date in the same transaction (engine/liverecord.py), so it tells the same story.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from batchsync import jsontext
from batchsync.engine.liverecord import LiveRunRecord
from batchsync.errors import DatabaseCallError, RecordError, SinkError
from batchsync.models import Checkpoint, Cursor, JSONObject, RecordFailure, WriteCounts
from batchsync.redaction import Redactor
from batchsync.sinks.base import Sink, WriteOutcome
from batchsync.sinks.mapping import MappedRow
from batchsync.sources.incremental import Incremental, later
from batchsync.state import checkpoints, deadletters
from batchsync.state.deadletters import DeadLetter


def dead_letter(
    record: JSONObject, key: str | None, error: str, redactor: Redactor, row_key: Any = None
) -> DeadLetter:
    """A failed record as it will be stored: raw JSON and reason, both with secrets masked. `row_key`
    is its converted primary key, when it has one."""
    raw = jsontext.dumps_for_display(record)
    return DeadLetter(key, redactor.redact(raw), redactor.redact(error), row_key)


@dataclasses.dataclass(frozen=True, slots=True)
class FilteredRecord:
    """A record the source's `record_filter` leaves out: not written, counted as filtered. The source
    still has it, so a row it left from before is kept as it is (marked seen), never taken for missing."""

    record: JSONObject
    row_key: Any
    reason: str


BatchItem = MappedRow | DeadLetter | FilteredRecord
"""What one record of a page becomes: a row to write, a dead letter, or left out by the record filter."""


@dataclasses.dataclass(frozen=True, slots=True)
class BatchPosition:
    """Where the pass stands once a batch is committed."""

    cursor: Cursor
    skip_records: int
    is_complete: bool


class BatchWriter:
    """Writes batches for one run and keeps its totals: counts, failures, records."""

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
        on_missing: str = "keep",
        dead_letter_key: str | None = None,
        live_record: LiveRunRecord | None = None,
    ) -> None:
        """`dead_letter_key` files dead letters under another name than the checkpoint's: a fan-out's
        child syncs keep their own checkpoints but report their bad records under the fan-out's name.
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
        self._letters_key = dead_letter_key or pipeline
        self._live_record = live_record
        self.counts = WriteCounts()
        self.deleted = 0
        self.failures: list[RecordFailure] = []
        self.records = 0
        self.batches_committed = 0

    def commit(
        self,
        connection: Connection,
        batch: Sequence[BatchItem],
        checkpoint: Checkpoint,
        position: BatchPosition,
        expected_total: int | None,
    ) -> Checkpoint:
        """Commit `batch` and the checkpoint at `position`; returns that checkpoint. Raises SinkError, or
        RecordError when on_record_error is fail (the batch is then rolled back whole)."""
        rows = [item for item in batch if isinstance(item, MappedRow)]
        seen = [row.record for row in rows] + [
            item.record for item in batch if isinstance(item, FilteredRecord)
        ]
        following = self._checkpoint_after(
            checkpoint, rows, seen, position, expected_total, datetime.now(UTC)
        )
        ends_page = position.skip_records == 0  # a page written in several batches counts at its last
        self._write(connection, batch, following, pages=1 if ends_page else 0)
        return following

    def write_only(self, connection: Connection, batch: Sequence[BatchItem]) -> None:
        """Targeted sync: write rows and dead letters, leaving the pass checkpoint alone."""
        self._write(connection, batch, None, pages=1)

    def _write(
        self,
        connection: Connection,
        batch: Sequence[BatchItem],
        following: Checkpoint | None,
        *,
        pages: int,
    ) -> None:
        rows = [item for item in batch if isinstance(item, MappedRow)]
        letters = [item for item in batch if isinstance(item, DeadLetter)]
        filtered = [item for item in batch if isinstance(item, FilteredRecord)]
        now = datetime.now(UTC)
        deleted = 0
        try:
            if self._dry_run:
                outcome = self._would_write(connection, rows)
            else:
                with connection.begin():
                    outcome = self._sink.write(connection, rows, now)
                    letters += self._refused(outcome)
                    self._settle_filtered(connection, filtered, now)
                    self._settle_dead_letters(connection, rows, outcome, letters, following, now)
                    if following is not None:
                        deleted = self._settle_missing(connection, following, now)
                        checkpoints.save(connection, self._pipeline, following)
                    if self._live_record is not None:
                        self._live_record.add(
                            connection,
                            outcome.counts + WriteCounts(filtered=len(filtered)),
                            deleted=deleted,
                            failed=len(letters),
                            pages=pages,
                            checkpoint=following,
                        )
                if self._live_record is not None:
                    self._live_record.settle()
        except DatabaseCallError as exc:  # "refused" only when it was: a lock or a full disk is not the data
            failed = "the database refused a batch" if exc.is_refusal else "cannot commit a batch"
            raise SinkError(f"{failed}: {exc.reason}") from exc
        if self._dry_run:
            letters += self._refused(outcome)
        self.deleted += deleted
        self.records += len(rows) + len(letters) + len(filtered)
        self.counts += outcome.counts + WriteCounts(filtered=len(filtered))
        if not self._dry_run:
            self.batches_committed += 1
        self.failures.extend(RecordFailure(letter.key, letter.error) for letter in letters)

    def _checkpoint_after(
        self,
        checkpoint: Checkpoint,
        rows: list[MappedRow],
        seen: list[JSONObject],
        position: BatchPosition,
        expected_total: int | None,
        now: datetime,
    ) -> Checkpoint:
        """`seen`: the records the watermark moves past, rows and filtered records alike (a filtered
        record is done with: the next pass need not fetch it again)."""
        max_seen = checkpoint.max_seen_watermark
        watermark = checkpoint.watermark
        if self._incremental is not None:
            max_seen = self._incremental.highest_in(seen, max_seen)
            if self._incremental.is_sorted or position.is_complete:
                watermark = later(watermark, max_seen)
        return dataclasses.replace(
            checkpoint,
            cursor=None if position.is_complete else position.cursor,
            skip_records=position.skip_records,
            is_complete=position.is_complete,
            pass_records=checkpoint.pass_records + len(rows),
            max_seen_watermark=max_seen,
            watermark=watermark,
            total_expected=expected_total,
            last_synced_at=now,
        )

    def _refused(self, outcome: WriteOutcome) -> list[DeadLetter]:
        letters = [
            dead_letter(row.record, str(row.key), error, self._redactor, row.key)
            for row, error in outcome.rejected
        ]
        if letters and self._fail_on_record_error:
            raise RecordError(f"record {letters[0].key}: {letters[0].error}", key=letters[0].key)
        return letters

    def _settle_filtered(self, connection: Connection, filtered: list[FilteredRecord], now: datetime) -> None:
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
        rows: list[MappedRow],
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
            self._sink.mark_seen(
                connection, [letter.row_key for letter in letters if letter.row_key is not None], now
            )
        if following is None or self._letters_key != self._pipeline:  # siblings share the entries: keep them
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

    def _would_write(self, connection: Connection, rows: list[MappedRow]) -> WriteOutcome:
        """Dry run: classify against the table as it is (all new when it does not exist yet)."""
        if not self._table_exists:
            return WriteOutcome(WriteCounts(created=len(rows)))
        with connection.begin():
            return WriteOutcome(self._sink.classify(connection, rows))
