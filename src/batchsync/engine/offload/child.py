"""The writer process's side: connect, wait for the pass, then route and commit each chunk handed over,
in order, on its own connection, exactly as the run would (engine/commits.py `LocalCommits`)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from multiprocessing.connection import Connection as Pipe

from sqlalchemy import Connection

from batchsync.database import open_database
from batchsync.engine.batches import BatchWriter, WriterTally
from batchsync.engine.commits import LocalCommits, PageChunk
from batchsync.engine.liverecord import LiveRunRecord
from batchsync.engine.offload.wire import (
    Chunk,
    Committed,
    End,
    Failed,
    Handover,
    OffloadSpec,
    Ready,
    decode_records,
)
from batchsync.engine.records import RecordRouter
from batchsync.models import WriteCounts
from batchsync.sinks.mapping import RowMapper

_PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> None:
    """`python -m batchsync.engine.offload.child FD`: serve the run at the other end of socket FD."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the run's to decide about
    parent = os.getppid()
    _end_with_the_run()
    if os.getppid() != parent:  # the run died before the line above
        return
    with Pipe(int(argv[0])) as pipe, contextlib.suppress(EOFError, BrokenPipeError):
        spec = pipe.recv()
        assert isinstance(spec, OffloadSpec)
        serve(spec, pipe)


def serve(spec: OffloadSpec, pipe: Pipe) -> None:
    """The writer process's work. Sends `Ready`, then one `Committed` per transaction (the chunks waiting
    are committed together where they can be: `LocalCommits.commit_together`), or one `Failed` and
    ends; ends on `End`, or when the run's end of the pipe closes."""
    try:
        engine = open_database(spec.database, state_schema=spec.state_schema)
    except BaseException as exc:
        pipe.send(Failed.of(exc))
        return
    try:
        with engine.connect() as connection, contextlib.suppress(EOFError, BrokenPipeError):
            pipe.send(Ready())
            handover = pipe.recv()
            if isinstance(handover, Handover):
                _commit_chunks(spec, handover, connection, pipe)
    finally:
        engine.dispose()


def _commit_chunks(spec: OffloadSpec, handover: Handover, connection: Connection, pipe: Pipe) -> None:
    calls = [handover.calls_reported]
    live_record = LiveRunRecord(
        spec.writer.run_id,
        calls=lambda: calls[0],
        reports_position=spec.reports_position,
        reported=handover.calls_reported,
    )
    writer = spec.writer.writer(has_dead_letters=handover.has_dead_letters, live_record=live_record)
    router = RecordRouter(
        RowMapper(spec.writer.destination),
        record_filter=spec.record_filter,
        redactor=spec.writer.redactor,
        fail_on_record_error=spec.writer.fail_on_record_error,
    )
    commits = LocalCommits(router, writer, connection, handover.checkpoint)
    waiting = _Waiting(pipe)
    while (group := waiting.take(spec.db_batch_size)) is not None:
        calls[0] = group[-1].calls
        chunks = [
            PageChunk(decode_records(chunk.records), chunk.position, chunk.expected_total) for chunk in group
        ]
        try:
            for checkpoint, count in commits.commit_together(chunks):
                pipe.send(Committed(checkpoint, _take_tally(writer), live_record.reported, count))
        except Exception as exc:
            pipe.send(Failed.of(exc))
            return


class _Waiting:
    """The chunks the run has handed over and this process has not committed yet, as they come."""

    def __init__(self, pipe: Pipe) -> None:
        self._pipe = pipe
        self._next: Chunk | End | None = None

    def take(self, records: int) -> list[Chunk] | None:
        """The next chunk, and those already waiting behind it while they hold at most `records` records
        together (a page per transaction when the run is the slower side; as many pages as have piled
        up, and fit, when this process is); None at the end."""
        first = self._receive()
        if isinstance(first, End):
            return None
        group, size = [first], first.size
        while self._pipe.poll():
            following = self._receive()
            if isinstance(following, End) or size + following.size > records:
                self._next = following
                break
            group.append(following)
            size += following.size
        return group

    def _receive(self) -> Chunk | End:
        message, self._next = self._next or self._pipe.recv(), None
        assert isinstance(message, Chunk | End)
        return message


def _take_tally(writer: BatchWriter) -> WriterTally:
    """The writer's totals since the last call, which start again from zero: each batch's own."""
    tally = WriterTally(
        writer.counts,
        writer.deleted,
        writer.records,
        writer.batches_committed,
        tuple(writer.dead_letters),
        writer.has_dead_letters,
    )
    writer.counts, writer.deleted, writer.records, writer.batches_committed = WriteCounts(), 0, 0, 0
    writer.dead_letters = []
    return tally


def _end_with_the_run() -> None:
    """Have the kernel end this process when the run's process dies (`kill -9` included), so it never
    commits a chunk after its run is gone. Linux only; elsewhere the closed pipe ends it."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


if __name__ == "__main__":
    main(sys.argv[1:])
