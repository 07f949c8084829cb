"""Walking one pass: fetch a page, map its records, commit it in batches, move to the next cursor.

The next pages' fetches start before the current page is written: the next one as soon as its cursor is
known, and with `concurrency` N, for offset and page-number paging, up to N pages ahead at once
(`engine/window.py`). Pages are still written strictly in page order and each checkpoint points just past
the pages committed, so a crash costs at most N + 1 pages fetched again. A stop request is honoured after
a committed batch (or while waiting for a page), never in the middle of one. A page that only repeats the
one before it stops the pass before it is written (see `sources/runaway.py`).

Each chunk of a page goes to the pass's `Commits` (engine/commits.py): committed here and now, or, once a
writer process has taken the pass over (engine/offload/), handed to it; the checkpoints come back as
its commits do, and progress and the stop check follow them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence

from sqlalchemy import Connection

from batchsync.config import Rule
from batchsync.engine.batches import BatchPosition, BatchWriter
from batchsync.engine.commits import Commits, LocalCommits
from batchsync.engine.fetcher import PageFetcher, StoppedWaiting, wait_for
from batchsync.engine.offload.process import Offload
from batchsync.engine.records import RecordRouter
from batchsync.engine.window import PageWindow
from batchsync.errors import BatchsyncError
from batchsync.models import Checkpoint, JSONObject, RecordsText
from batchsync.redaction import Redactor
from batchsync.sinks.mapping import RowMapper
from batchsync.sources.base import PagedSource
from batchsync.sources.drift import DriftDetector
from batchsync.sources.runaway import RunawayDetector

log = logging.getLogger("batchsync.engine")


class PassWalker:
    """Pages through one pass of a collection, from a checkpoint to the end or to a stop."""

    def __init__(
        self,
        source: PagedSource,
        mapper: RowMapper,
        writer: BatchWriter,
        *,
        db_batch_size: int,
        redactor: Redactor,
        fail_on_record_error: bool,
        stop: threading.Event,
        on_batch: Callable[[Checkpoint, int, int | None], None],
        record_filter: Sequence[Rule] = (),
        concurrency: int = 1,
        offload: Offload | None = None,
    ) -> None:
        """`concurrency`: pages in flight at once, where the source can tell the next cursor ahead.
        `offload`: when the pass's writing goes to a writer process (None: it never does)."""
        self._source = source
        self._concurrency = max(1, concurrency)
        self._mapper = mapper
        self._router = RecordRouter(
            mapper, record_filter=record_filter, redactor=redactor, fail_on_record_error=fail_on_record_error
        )
        self._writer = writer
        self._db_batch_size = db_batch_size
        self._stop = stop
        self._on_batch = on_batch
        self.pages = 0
        self.expected_total: int | None = None
        self.drift = DriftDetector()
        hint = source.position_hint
        self._runaway = None if hint is None else RunawayDetector(source.describe_position, hint)
        self._offload = offload
        self._commits: Commits | None = None
        self._seconds_waiting = 0.0
        """Of the pass so far, the time spent waiting for pages: the API's share of it."""
        self._started = time.monotonic()

    def walk(self, connection: Connection, checkpoint: Checkpoint) -> Checkpoint:
        """Returns the last committed checkpoint: complete, or where a stop left the pass."""
        fetcher = PageFetcher(self._source.fetch_page, self._concurrency)
        window = PageWindow(self._source, fetcher, self._concurrency)
        self._commits = LocalCommits(self._router, self._writer, connection, checkpoint)
        self._started = time.monotonic()
        interrupted = False
        try:
            return self._walk(window, checkpoint)
        except StoppedWaiting:
            return self._finish()
        except BaseException as exc:
            interrupted = not isinstance(exc, Exception)  # Ctrl+C: leave at once, as a stop does
            if interrupted:
                self._commits.abandon()
            else:  # what was handed over before the failure is committed, as it would have been here
                with contextlib.suppress(BatchsyncError):
                    self._finish()
            raise
        finally:
            if self._offload is not None:
                self._offload.close()
            # A stop or Ctrl+C never waits on a request; a pass that ended or failed lets those in
            # flight end first, so none is still retrying once the run closes its HTTP client.
            if interrupted:
                window.discard()
            else:
                window.settle(self._stop)
            fetcher.close()

    def _walk(self, window: PageWindow, checkpoint: Checkpoint) -> Checkpoint:
        cursor, skip = checkpoint.cursor, checkpoint.skip_records
        is_pass_start = checkpoint.pass_records == 0 and skip == 0
        window.start(cursor)
        while True:
            cursor, pending = window.take_head()
            asked = time.monotonic()
            page = wait_for(pending, self._stop)
            self.pages += 1
            self._seconds_waiting += time.monotonic() - asked
            total = self._source.expected_total(page)
            if total is not None:
                self.expected_total = total
            next_cursor = self._source.next_cursor(page, cursor)
            # Every record's key, dead-lettered or not, as the end-of-pass re-read of page 1 sees them.
            page_keys = self._mapper.keys_of(page.records)
            if self._runaway is not None:  # before the next fetch starts, so a runaway costs no request
                self._runaway.observe_page(
                    [key for key in page_keys if key is not None], cursor, page.response.url
                )
            # Before the window fetches more: a page handed to a writer process and not yet committed
            # is still in flight, as far as what a crash costs goes (at most N + 1 pages fetched again).
            held = self._make_room()
            window.advance(next_cursor, self.expected_total, held=held)  # before the write, to overlap it
            records = page.records[skip:]
            keys = [key for key in page_keys[skip:] if key is not None]
            size = self._db_batch_size
            for start in range(0, len(records), size) if records else range(1):
                # Mapped (and filtered) batch by batch, so with on_record_error: fail the batches before a
                # bad record are committed and only the bad record's own batch is lost.
                is_page_end = start + size >= len(records)
                position = BatchPosition(
                    cursor=next_cursor if is_page_end else cursor,
                    skip_records=0 if is_page_end else skip + start + size,
                    is_complete=is_page_end and next_cursor is None,
                )
                # A whole page goes as the text it came in, when the source kept it (no writing it out).
                is_whole_page = skip == 0 and start == 0 and is_page_end
                text = page.text if is_whole_page else None
                self._commit(records[start : start + size], position, page_size=len(page.records), text=text)
                if self._stop.is_set() and not position.is_complete:
                    log.info("stopped after a committed batch; the checkpoint is saved")
                    return self._finish()
            self.drift.observe_page(keys, total, is_pass_start=is_pass_start)
            is_pass_start = False
            if next_cursor is None:
                return self._finish()
            skip = 0

    def _commit(
        self,
        records: list[JSONObject],
        position: BatchPosition,
        *,
        page_size: int,
        text: RecordsText | None = None,
    ) -> None:
        assert self._commits is not None
        if self._offload is not None:
            pages_left = None
            if self.expected_total is not None and page_size:
                pages_left = (self.expected_total - self._commits.last.pass_records) // page_size
            waiting = self._seconds_waiting / max(time.monotonic() - self._started, 1e-9)
            self._commits = self._offload.commits_for(
                self.pages, self._commits, pages_left=pages_left, share_waiting=waiting
            )
        self._committed(self._commits.commit(records, position, self.expected_total, text=text))

    def _make_room(self) -> int:
        """Wait until the pass may hand over another chunk; returns how many handed over are not yet
        committed, which the page window fetches fewer pages ahead for."""
        assert self._commits is not None
        self._committed(self._commits.make_room())
        return self._commits.held

    def _finish(self) -> Checkpoint:
        """Once every chunk handed over is committed: the last checkpoint committed."""
        assert self._commits is not None
        self._committed(self._commits.finish())
        return self._commits.last

    def _committed(self, checkpoints: list[Checkpoint]) -> None:
        for checkpoint in checkpoints:
            self._on_batch(checkpoint, self.pages, self.expected_total)

    def recheck_front(self) -> None:
        """Read the first page again (one request) so drift at the front shows in the report."""
        if not self.drift.can_recheck_front:
            return
        page = self._source.fetch_page(self._source.first_cursor())
        keys = self._mapper.keys_of(page.records)
        self.drift.observe_front_again([key for key in keys if key is not None])
