"""What the run and its writer process say to each other, and how records travel between them.

Records travel as JSON text, not pickled: they were parsed from JSON (integers exact, fractions as
Decimals), so `jsontext` writes them back to the same text and reads them to the same values, and text
costs a fraction of pickling dicts of Decimals. A whole page of a REST pull travels as the body's own
bytes (`RecordsText`), parsed there as here, so the run does not write out again what it has just read.
Errors travel as their kind and message and come back as
the same batchsync error, so a run fails with the words it would have had without a writer process.
"""

from __future__ import annotations

import functools
import pickle
from dataclasses import dataclass

from batchsync import jsontext
from batchsync.config import Rule
from batchsync.engine.batches import BatchPosition, WriterTally
from batchsync.engine.writerspec import WriterSpec
from batchsync.errors import BatchsyncError, RecordError, SinkError
from batchsync.models import Checkpoint, JSONObject, PickledByFields, RecordsText
from batchsync.paths import DottedPath


@dataclass(frozen=True, slots=True)
class OffloadSpec:
    """What a writer process is made from: where the database is and the run's writer, as values."""

    database: str
    state_schema: str | None
    writer: WriterSpec
    record_filter: tuple[Rule, ...]
    reports_position: bool
    db_batch_size: int
    """At most this many records in one transaction, when chunks waiting are committed together."""


@dataclass(frozen=True, slots=True)
class Ready:
    """The writer process is connected and can take over."""


@dataclass(frozen=True, slots=True)
class Handover:
    """The run hands its pass over: the checkpoint last committed, and what its writer knows."""

    checkpoint: Checkpoint
    has_dead_letters: bool
    calls_reported: tuple[int, int]


@dataclass(frozen=True, slots=True)
class Chunk(PickledByFields):
    """A chunk of a page's records to commit, ending the page at `position`; `calls`: the run's API calls
    and retries by now, for the run's row."""

    records: str | bytes | RecordsText
    size: int
    """How many records `records` holds."""
    position: BatchPosition
    expected_total: int | None
    calls: tuple[int, int]


@dataclass(frozen=True, slots=True)
class Committed(PickledByFields):
    """`chunks` chunks, the oldest ones pending, are committed (in one transaction), up to `checkpoint`."""

    checkpoint: Checkpoint
    tally: WriterTally
    calls_reported: tuple[int, int]
    chunks: int = 1


@dataclass(frozen=True, slots=True)
class Failed:
    """The chunk could not be committed (its transaction rolled back); the writer process has ended."""

    kind: str
    message: str
    key: str | None = None

    @classmethod
    def of(cls, exc: BaseException) -> Failed:
        if isinstance(exc, RecordError):
            return cls("record", str(exc), exc.key)
        if isinstance(exc, BatchsyncError):
            return cls("sink", str(exc))
        return cls("internal", f"the writer process failed: {exc!r}")

    def error(self) -> BatchsyncError:
        if self.kind == "record":
            return RecordError(self.message, key=self.key)
        return SinkError(self.message)


@dataclass(frozen=True, slots=True)
class End:
    """No more chunks: the writer process closes its connection and ends."""


def encode_records(records: list[JSONObject]) -> str | bytes:
    """JSON text, or, for a value JSON cannot hold (a lone surrogate in a key), pickled."""
    try:
        return jsontext.dumps(records)
    except jsontext.UnwritableJsonError:
        return pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)


def decode_records(records: str | bytes | RecordsText) -> list[JSONObject]:
    if isinstance(records, RecordsText):
        return _records_in(records)
    if isinstance(records, bytes):
        decoded: list[JSONObject] = pickle.loads(records)  # our own run's records, through our own pipe
        return decoded
    parsed = jsontext.parse(records)
    assert isinstance(parsed, list)
    return parsed


def _records_in(text: RecordsText) -> list[JSONObject]:
    """The records the run found in these bytes (sources/pull.py checked that they are a list of
    objects, or null for none): the same parser reads the same bytes to the same values."""
    body = jsontext.parse(text.body)
    found = body if text.records_path is None else _path(text.records_path).get(body)
    if found is None:
        return []
    assert isinstance(found, list)
    return found  # objects, as the run checked


@functools.lru_cache(maxsize=16)
def _path(text: str) -> DottedPath:
    return DottedPath.parse(text)
