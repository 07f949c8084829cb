"""What becomes of one record of a page: left out by the source's `record_filter`, a row, or a dead letter.

The filter comes first: a record the pipeline does not want is never mapped, so a bad value in it cannot
make a dead letter. A record the filter cannot judge (text where `gt` compares a number) is not quietly
dropped: it is a record error, dead-lettered (or fatal, with on_record_error: fail) with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from batchsync.config import Rule
from batchsync.engine.batches import BatchItem, FilteredRecord, dead_letter
from batchsync.errors import RecordError
from batchsync.models import JSONObject
from batchsync.redaction import Redactor
from batchsync.rules import RuleFailure, first_failing
from batchsync.sinks.mapping import RowMapper


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

    def route(self, record: JSONObject) -> BatchItem:
        """A FilteredRecord, a MappedRow or a DeadLetter. Raises RecordError when on_record_error is
        fail and the record cannot be mapped or judged."""
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
