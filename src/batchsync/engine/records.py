"""What becomes of a page's records: each is left out by the source's `record_filter`, a row, or a dead
letter, and together they make a `Batch`, the value the batch writer commits.

The filter comes first: a record the pipeline does not want is never mapped, so a bad value in it cannot
make a dead letter. A record the filter cannot judge (text where `gt` compares a number) is not quietly
dropped: it is a record error, dead-lettered (or fatal, with on_record_error: fail) with the reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from batchsync import jsontext
from batchsync.config import Rule
from batchsync.errors import RecordError
from batchsync.models import JSONObject
from batchsync.redaction import Redactor
from batchsync.rules import RuleFailure, first_failing
from batchsync.sinks.mapping import MappedRow, RowMapper
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


@dataclasses.dataclass(frozen=True, slots=True)
class Batch:
    """What a batch of records became, routed once: the rows to write, the records that failed (to be
    dead-lettered), and those the record filter left out."""

    rows: tuple[MappedRow, ...] = ()
    dead_letters: tuple[DeadLetter, ...] = ()
    filtered: tuple[FilteredRecord, ...] = ()

    @property
    def size(self) -> int:
        """How many records the batch holds, whatever became of them."""
        return len(self.rows) + len(self.dead_letters) + len(self.filtered)

    @classmethod
    def joined(cls, batches: Sequence[Batch]) -> Batch:
        """One batch of these batches' records, in their order."""
        return cls(
            tuple(row for batch in batches for row in batch.rows),
            tuple(letter for batch in batches for letter in batch.dead_letters),
            tuple(item for batch in batches for item in batch.filtered),
        )

    def with_dead_letters(self, letters: Iterable[DeadLetter]) -> Batch:
        """This batch with more failed records (e.g. ids the API did not return)."""
        return dataclasses.replace(self, dead_letters=(*self.dead_letters, *letters))


class RecordRouter:
    """Sends each record where it belongs, for the pass walker and for a targeted (`--only`) sync."""

    def __init__(
        self,
        mapper: RowMapper,
        *,
        record_filter: Sequence[Rule],
        redactor: Redactor,
        fail_on_record_error: bool,
    ) -> None:
        self._mapper = mapper
        self._filter = tuple(record_filter)
        self._redactor = redactor
        self._fail_on_record_error = fail_on_record_error

    def route_all(self, records: Sequence[JSONObject]) -> Batch:
        """The batch these records make, in their order. Raises RecordError when on_record_error is
        fail and a record cannot be mapped or judged."""
        if not self._filter:
            try:  # the usual page: every record a row, mapped in one go
                return Batch(tuple([self._mapper.map(record) for record in records]), (), ())
            except RecordError:
                pass  # routed one by one below, where the bad record becomes a dead letter
        rows: list[MappedRow] = []
        letters: list[DeadLetter] = []
        filtered: list[FilteredRecord] = []
        for record in records:
            routed = self._route(record)
            if isinstance(routed, MappedRow):
                rows.append(routed)
            elif isinstance(routed, DeadLetter):
                letters.append(routed)
            else:
                filtered.append(routed)
        return Batch(tuple(rows), tuple(letters), tuple(filtered))

    def _route(self, record: JSONObject) -> MappedRow | DeadLetter | FilteredRecord:
        try:
            failure = first_failing(self._filter, record) if self._filter else None
            if failure is None:
                return self._mapper.map(record)
            if not failure.is_undecided:
                return FilteredRecord(record, self._mapper.key_of(record), failure.reason)
            raise self._cannot_judge(record, failure)
        except RecordError as exc:
            if self._fail_on_record_error:
                raise
            return dead_letter(record, exc.key, str(exc), self._redactor, self._mapper.key_of(record))

    def _cannot_judge(self, record: JSONObject, failure: RuleFailure) -> RecordError:
        key = self._mapper.key_of(record)
        text = None if key is None else str(key)
        return RecordError(f"record {text or '(no key)'}: record_filter: {failure.reason}", key=text)
