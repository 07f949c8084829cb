"""The run's side of a writer process: start it, hand it the pass once it is ready, and keep the run's
totals and checkpoints in step with what it commits."""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
from multiprocessing.connection import Connection as Pipe

from batchsync.engine.batches import BatchPosition, BatchWriter
from batchsync.engine.commits import Commits
from batchsync.engine.liverecord import LiveRunRecord
from batchsync.engine.offload.wire import (
    Chunk,
    Committed,
    End,
    Failed,
    Handover,
    OffloadSpec,
    Ready,
    encode_records,
)
from batchsync.errors import BatchsyncError, SinkError
from batchsync.models import Checkpoint, JSONObject, RecordsText

log = logging.getLogger("batchsync.engine")

MAX_PENDING = 4
"""Chunks handed over and not yet committed, at most (and fewer than the pass's `concurrency`): enough to
keep the writer process busy while the run's threads fetch, few enough that memory stays flat. The page
window fetches that many fewer pages ahead meanwhile (`PassWalker._make_room`), so a crash still costs
at most `concurrency` + 1 pages fetched again."""


def max_pending(concurrency: int) -> int:
    """Chunks that may be on their way with `concurrency` pages in flight (see `MAX_PENDING`)."""
    return max(1, min(MAX_PENDING, concurrency - 1))


_JOIN_SECONDS = 30.0
_READY_POLL_SECONDS = 0.1
_MOSTLY_WAITING = 0.25
"""With `auto`, no writer process for a pass that spent more than this share of its time waiting for
pages: its own work is not what holds it up."""


class WriterProcess:
    """A writer process, started at once; `ready()` tells when it can take the pass over."""

    def __init__(self, spec: OffloadSpec) -> None:
        # A new interpreter running this package's writer and nothing else: not multiprocessing's spawn,
        # which would run the caller's own script again in it, nor a fork of a process with threads.
        ours, theirs = socket.socketpair()
        command = [sys.executable, "-m", "batchsync.engine.offload.child", str(theirs.fileno())]
        self._pipe = Pipe(ours.detach())
        self._ready = False
        self._unusable = False
        self._process: subprocess.Popen[bytes] | None = None
        try:
            self._process = subprocess.Popen(command, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
            self._pipe.send(spec)
        except OSError as exc:
            self._give_up(f"cannot start {sys.executable}: {exc.strerror or exc}")
        finally:
            theirs.close()

    def ready(self) -> bool:
        """Whether it is connected and waiting (never blocks). One that could not start is logged once
        and never ready: the run goes on writing its batches itself."""
        if self._ready or self._unusable:
            return self._ready
        try:
            if not self._pipe.poll():
                return False
            message = self._pipe.recv()
        except (EOFError, OSError):
            message = Failed("internal", "the writer process ended before it was ready")
        if isinstance(message, Ready):
            self._ready = True
        else:
            self._give_up(message.message if isinstance(message, Failed) else repr(message))
        return self._ready

    def _give_up(self, reason: str) -> None:
        self._unusable = True
        log.warning("no writer process (%s); this process writes the batches", reason)
        self.close()

    def take_over(
        self, writer: BatchWriter, live_record: LiveRunRecord, start: Checkpoint, *, pending: int
    ) -> OffloadedCommits:
        """Hand the pass over at `start`, the checkpoint last committed here; `writer` is the run's own,
        whose totals the writer process's batches are added to."""
        handover = Handover(start, writer.has_dead_letters, live_record.reported)
        self._pipe.send(handover)
        return OffloadedCommits(self, writer, live_record, start, pending=pending)

    @property
    def unusable(self) -> bool:
        """It could not start (and said why in the log): it never will be ready."""
        return self._unusable

    def wait_for_answer(self, seconds: float) -> None:
        try:
            self._pipe.poll(seconds)
        except (EOFError, OSError):
            return

    def send(self, message: Chunk | End) -> None:
        self._pipe.send(message)

    def receive(self) -> Committed | Failed:
        """The next answer; blocks. A writer process gone without a word is a `Failed` too."""
        try:
            message = self._pipe.recv()
        except (EOFError, OSError):
            return Failed("sink", "the writer process ended unexpectedly; its last batch was not committed")
        assert isinstance(message, Committed | Failed)
        return message

    def has_answer(self) -> bool:
        try:
            return self._pipe.poll()
        except (EOFError, OSError):
            return True

    def close(self, *, at_once: bool = False) -> None:
        """End it: after the chunks handed over (or, `at_once`, now: what it has not committed is not)."""
        process, self._process = self._process, None
        if process is not None:
            if at_once:
                process.kill()
            else:
                with contextlib.suppress(BrokenPipeError, OSError):
                    self._pipe.send(End())
            try:
                process.wait(_JOIN_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with contextlib.suppress(OSError):
            self._pipe.close()


class OffloadedCommits:
    """`Commits` through a writer process that has taken the pass over (engine/commits.py)."""

    def __init__(
        self,
        process: WriterProcess,
        writer: BatchWriter,
        live_record: LiveRunRecord,
        start: Checkpoint,
        *,
        pending: int,
    ) -> None:
        """`pending`: chunks that may be on their way at once."""
        self._max_pending = pending
        self._process = process
        self._writer = writer
        self._live_record = live_record
        self.last = start
        self._pending = 0
        self._failure: BatchsyncError | None = None
        self._closed = False

    def commit(
        self,
        records: list[JSONObject],
        position: BatchPosition,
        expected_total: int | None,
        *,
        text: RecordsText | None = None,
    ) -> list[Checkpoint]:
        committed = self._collect(until=self._max_pending - 1)
        calls = self._live_record.calls_now()
        encoded = encode_records(records) if text is None else text
        chunk = Chunk(encoded, len(records), position, expected_total, calls)
        try:
            self._process.send(chunk)
        except (BrokenPipeError, OSError):
            committed += self._collect(until=0)  # its last words say why
            raise self._failure or SinkError("the writer process ended unexpectedly") from None
        self._pending += 1
        return committed

    def make_room(self) -> list[Checkpoint]:
        """Wait until another chunk may be handed over; returns the checkpoints committed meanwhile. The
        pass walker asks before it lets the page window fetch more, so pages handed over and not yet
        committed count among the pages in flight."""
        return self._collect(until=self._max_pending - 1)

    @property
    def held(self) -> int:
        return self._pending

    def finish(self) -> list[Checkpoint]:
        try:
            return self._collect(until=0)
        finally:
            self._close()

    def abandon(self) -> None:
        if not self._closed:
            self._closed = True
            self._process.close(at_once=True)

    def _collect(self, *, until: int) -> list[Checkpoint]:
        """Take the answers in (waiting while more than `until` chunks are pending); raises the writer
        process's failure, once all it committed before it is counted."""
        committed: list[Checkpoint] = []
        while self._pending and (self._pending > until or self._process.has_answer()):
            answer = self._process.receive()
            if isinstance(answer, Failed):
                self._pending = 0
                self._failure = answer.error()
                break
            self._pending -= answer.chunks
            self._writer.absorb(answer.tally)
            self._live_record.reported_elsewhere(answer.calls_reported)
            self.last = answer.checkpoint
            committed.append(answer.checkpoint)
        if self._failure is not None:
            self._close()
            raise self._failure
        return committed

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._process.close()


class Offload:
    """When a pass hands its writing over: once `after_pages` pages are in, as soon as the writer process
    (started then) is ready; with `wait`, the pass waits for it to be ready rather than write meanwhile."""

    def __init__(
        self,
        spec: OffloadSpec,
        writer: BatchWriter,
        live_record: LiveRunRecord,
        *,
        after_pages: int,
        concurrency: int,
        wait: bool = False,
    ) -> None:
        self._concurrency = concurrency
        self._spec = spec
        self._writer = writer
        self._live_record = live_record
        self._after_pages = after_pages
        self._wait = wait
        self._process: WriterProcess | None = None
        self._taken_over = False

    def commits_for(
        self, pages: int, current: Commits, *, pages_left: int | None, share_waiting: float = 0.0
    ) -> Commits:
        """What commits the pass's next chunk: `current`, or, from the moment the writer process took
        the pass over, the writer process. `pages`: pages in so far; `pages_left`: how many more there
        are, when a total tells; `share_waiting`: the share of the pass's time so far spent waiting for
        pages."""
        if self._taken_over or pages < self._after_pages:
            return current
        if self._process is None and not self._wait:
            if pages_left is not None and pages_left < self._after_pages:
                return current  # nearly done: not worth starting one
            if share_waiting > _MOSTLY_WAITING:
                return current  # the API is what holds the pass up: a second process would wait too
        if self._process is None:
            self._process = WriterProcess(self._spec)
        while self._wait and not self._process.ready() and not self._process.unusable:
            self._process.wait_for_answer(_READY_POLL_SECONDS)
        if not self._process.ready():
            return current
        self._taken_over = True
        log.info("a writer process writes the batches from page %d on", pages)
        pending = max_pending(self._concurrency)
        return self._process.take_over(self._writer, self._live_record, current.last, pending=pending)

    def close(self) -> None:
        """End a writer process that was started but never took the pass over."""
        if self._process is not None and not self._taken_over:
            self._process.close()
