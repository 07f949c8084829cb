"""The sync loop: fetch a page, write it in batches each committed with its checkpoint, repeat, stop cleanly.

Resumability is a transaction: a batch's rows and the checkpoint that points past them commit together,
so a run killed at any instant resumes exactly after the last committed batch. The next page is fetched
on a helper thread while the current one is written, so at most two pages are ever fetched but not
committed: the one being written and the one being fetched.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from batchsync.config import Config, PipelineConfig
from batchsync.database import open_database
from batchsync.errors import BatchsyncError, CheckpointError, SinkError
from batchsync.http.auth import build_auth
from batchsync.http.client import HttpClient
from batchsync.models import Checkpoint, Cursor, JSONObject, Page, RunResult, RunStatus, Trigger, WriteCounts
from batchsync.redaction import Redactor
from batchsync.sinks.mapping import MappedRow, RowMapper
from batchsync.sinks.schema import check_columns, ensure_table, table_exists
from batchsync.sinks.sqlite import SqliteSink
from batchsync.sources.incremental import Incremental, later
from batchsync.sources.paginators import make_paginator
from batchsync.sources.pull import PullSource, source_fingerprint
from batchsync.state import checkpoints, runs
from batchsync.state.tables import checkpoints as checkpoints_table
from batchsync.state.tables import ensure_state_tables

log = logging.getLogger("batchsync.engine")

_STOP_POLL_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How to run a pipeline; the CLI flags and the Python API's keyword arguments."""

    trigger: Trigger = Trigger.MANUAL
    full_refresh: bool = False
    dry_run: bool = False
    page_size: int | None = None
    db_batch_size: int | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """Reported after every committed batch, for progress bars."""

    pages: int
    records: int
    pass_records: int
    expected_total: int | None
    counts: WriteCounts
    is_pass_complete: bool = False


ProgressCallback = Callable[[Progress], None]


class _Stopped(Exception):
    """Raised inside the loop when a stop was requested while waiting for a page."""


def run_pipeline(
    config: Config,
    name: str,
    options: RunOptions | None = None,
    *,
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
) -> RunResult:
    """Run one pipeline to the end of its pass, or until `stop` is set. Never raises for a failed run:
    the failure is in the result (and the run record). Raises ConfigError/SinkError/CheckpointError when
    the run cannot start at all."""
    return PipelineRun(
        config, name, options or RunOptions(), stop or threading.Event(), on_progress
    ).execute()


class PipelineRun:
    """One run of one pipeline; holds the counters the result reports."""

    def __init__(
        self,
        config: Config,
        name: str,
        options: RunOptions,
        stop: threading.Event,
        on_progress: ProgressCallback | None,
    ) -> None:
        self.config = config
        self.name = name
        self.pipeline: PipelineConfig = config.pipeline(name)
        self.options = options
        self.stop = stop
        self.on_progress = on_progress
        self.redactor = Redactor(config.secret_values(name))
        self.mapper = RowMapper(self.pipeline.destination)
        self.sink = SqliteSink(self.pipeline.destination)
        incremental = self.pipeline.source.incremental
        self.incremental = Incremental(incremental) if incremental else None
        self.db_batch_size = options.db_batch_size or self.pipeline.db_batch_size
        self.run_id = str(uuid.uuid4())
        self.pages = 0
        self.records = 0
        self.counts = WriteCounts()
        self.expected_total: int | None = None
        self._table_exists: bool | None = None

    def execute(self) -> RunResult:
        started_at = datetime.now(UTC)
        engine = open_database(self.config.database, read_only=self.options.dry_run)
        try:
            if not self.options.dry_run:
                ensure_state_tables(engine)
                ensure_table(engine, self.sink.table)
            if table_exists(engine, self.sink.table.name):
                check_columns(engine, self.sink.table)
            start = self._starting_checkpoint(self._stored_checkpoint(engine))
            if not self.options.dry_run:
                runs.record_start(engine, self.run_id, self.name, self.options.trigger, started_at)
            timeout = httpx.Timeout(
                self.pipeline.source.timeout.read, connect=self.pipeline.source.timeout.connect
            )
            token_client = httpx.Client(timeout=timeout)
            client = self._http_client(timeout, token_client)
            status, error, final = RunStatus.SUCCEEDED, None, start
            try:
                source = PullSource(
                    self.pipeline.source,
                    client,
                    page_size=self.options.page_size,
                    watermark=start.pass_watermark,
                )
                final = self._walk(engine, source, start)
                if not final.is_complete:
                    status = RunStatus.CANCELLED
            except _Stopped as stopped:
                status, final = RunStatus.CANCELLED, stopped.args[0]
            except KeyboardInterrupt:
                status, error = RunStatus.CANCELLED, "interrupted"
            except BatchsyncError as exc:
                status, error = RunStatus.FAILED, self.redactor.redact(str(exc))
                log.info("%s failed: %s", self.name, error)
            except Exception as exc:  # a bug: record it as a failed run rather than a ghost "running" one
                status, error = RunStatus.FAILED, self.redactor.redact(f"internal error: {exc!r}")
                log.exception("%s failed with an internal error", self.name)
            finally:
                client.close()
                token_client.close()
            result = RunResult(
                run_id=self.run_id,
                pipeline=self.name,
                trigger=self.options.trigger,
                status=status,
                started_at=started_at,
                finished_at=datetime.now(UTC),
                api_calls=client.api_calls,
                pages=self.pages,
                counts=self.counts,
                is_pass_complete=final.is_complete,
                dry_run=self.options.dry_run,
                error=error,
            )
            if not self.options.dry_run:
                runs.record_finish(engine, result, client.retries)
            return result
        finally:
            engine.dispose()

    # --- where to start -------------------------------------------------------------------------------

    def _stored_checkpoint(self, engine: Engine) -> Checkpoint | None:
        if self.options.dry_run and not table_exists(engine, checkpoints_table.name):
            return None
        with engine.connect() as connection:
            return checkpoints.load(connection, self.name)

    def _starting_checkpoint(self, stored: Checkpoint | None) -> Checkpoint:
        """Resume an unfinished pass, or begin a new one from the saved watermark."""
        fingerprint = source_fingerprint(self.pipeline.source, self.options.page_size)
        if stored is not None and stored.is_started and not self.options.full_refresh:
            if stored.fingerprint != fingerprint:
                raise CheckpointError(
                    f"{self.name} has an unfinished pass that was started with other paging settings "
                    f"({stored.fingerprint!r}, now {fingerprint!r}); restore them to resume, "
                    f"or run `batchsync reset {self.name}` to start over"
                )
            log.info(
                "%s: resuming at cursor %r (+%d records), %d records already committed in this pass",
                self.name,
                stored.cursor,
                stored.skip_records,
                stored.pass_records,
            )
            return stored
        incremental = self.pipeline.source.incremental
        watermark = stored.watermark if stored else None
        pass_watermark = None
        if incremental is not None and not self.options.full_refresh:
            pass_watermark = watermark if watermark is not None else incremental.initial_value
        return Checkpoint(
            cursor=make_paginator(self.pipeline.source.paginator, self.options.page_size).first_cursor(),
            pass_started_at=datetime.now(UTC),
            pass_watermark=pass_watermark,
            watermark=watermark,
            fingerprint=fingerprint,
            last_synced_at=stored.last_synced_at if stored else None,
        )

    # --- the loop -------------------------------------------------------------------------------------

    def _walk(self, engine: Engine, source: PullSource, checkpoint: Checkpoint) -> Checkpoint:
        """Page through the collection from `checkpoint`; returns the last committed checkpoint."""
        fetcher = _PageFetcher(source.fetch_page)
        try:
            with engine.connect() as connection:  # one connection for the run, a transaction per batch
                return self._walk_pages(connection, source, fetcher, checkpoint)
        except SQLAlchemyError as exc:
            raise SinkError(f"the database failed: {getattr(exc, 'orig', exc)}") from exc
        finally:
            fetcher.close()

    def _walk_pages(
        self, connection: Connection, source: PullSource, fetcher: _PageFetcher, checkpoint: Checkpoint
    ) -> Checkpoint:
        cursor = checkpoint.cursor
        skip = checkpoint.skip_records
        pending = fetcher.submit(cursor)
        while True:
            page = self._wait_for(pending, checkpoint)
            self.pages += 1
            if self.expected_total is None:
                self.expected_total = source.paginator.expected_total(page)
            next_cursor = source.next_cursor(page, cursor)
            if next_cursor is not None:
                pending = fetcher.submit(next_cursor)
            records = page.records[skip:]
            rows = [self.mapper.map(record) for record in records]
            size = self.db_batch_size
            starts = range(0, len(rows), size) if rows else range(1)
            for start in starts:
                is_page_end = start + size >= len(rows)
                checkpoint = self._commit(
                    connection,
                    rows[start : start + size],
                    records[start : start + size],
                    checkpoint,
                    cursor=next_cursor if is_page_end else cursor,
                    skip_records=0 if is_page_end else skip + start + size,
                    is_complete=is_page_end and next_cursor is None,
                )
                if self.stop.is_set() and not checkpoint.is_complete:
                    log.info("%s: stopped after a committed batch; the checkpoint is saved", self.name)
                    return checkpoint
            if next_cursor is None:
                return checkpoint
            cursor, skip = next_cursor, 0

    def _wait_for(self, pending: Future[Page], checkpoint: Checkpoint) -> Page:
        while True:
            try:
                return pending.result(timeout=_STOP_POLL_SECONDS)
            except FutureTimeout:
                if self.stop.is_set():
                    raise _Stopped(checkpoint) from None

    def _commit(
        self,
        connection: Connection,
        rows: list[MappedRow],
        records: list[JSONObject],
        checkpoint: Checkpoint,
        *,
        cursor: Cursor,
        skip_records: int,
        is_complete: bool,
    ) -> Checkpoint:
        """Write one batch and the checkpoint after it in one transaction (or just count, dry)."""
        now = datetime.now(UTC)
        max_seen = checkpoint.max_seen_watermark
        watermark = checkpoint.watermark
        if self.incremental is not None:
            max_seen = self.incremental.highest_in(records, max_seen)
            if self.incremental.is_sorted or is_complete:
                watermark = later(watermark, max_seen)
        following = dataclasses.replace(
            checkpoint,
            cursor=None if is_complete else cursor,
            skip_records=skip_records,
            is_complete=is_complete,
            pass_records=checkpoint.pass_records + len(rows),
            max_seen_watermark=max_seen,
            watermark=watermark,
            total_expected=self.expected_total,
            last_synced_at=now,
        )
        try:
            if self.options.dry_run:
                counts = self._would_write(connection, rows)
            else:
                with connection.begin():
                    counts = self.sink.write(connection, rows, now)
                    checkpoints.save(connection, self.name, following)
        except SQLAlchemyError as exc:
            raise SinkError(f"the database refused a batch: {getattr(exc, 'orig', exc)}") from exc
        self.records += len(rows)
        self.counts += counts
        if self.on_progress is not None:
            self.on_progress(
                Progress(
                    self.pages,
                    self.records,
                    following.pass_records,
                    self.expected_total,
                    self.counts,
                    following.is_complete,
                )
            )
        return following

    def _would_write(self, connection: Connection, rows: list[MappedRow]) -> WriteCounts:
        """Dry run: classify against the table as it is (all new when it does not exist yet)."""
        if self._table_exists is None:
            self._table_exists = table_exists(connection.engine, self.sink.table.name)
        if not self._table_exists:
            return WriteCounts(created=len(rows))
        with connection.begin():
            return self.sink.classify(connection, rows)

    def _http_client(self, timeout: httpx.Timeout, token_client: httpx.Client) -> HttpClient:
        source = self.pipeline.source
        return HttpClient(
            source.base_url,
            headers=source.headers,
            auth=build_auth(source.auth, token_client, self.redactor),
            timeout=timeout,
            redactor=self.redactor,
        )


class _PageFetcher:
    """One daemon thread that fetches the page it is handed while the caller writes the previous one.

    A daemon, because a request hung on a dead server must never keep the process from exiting; one
    long-lived thread, because starting a thread per page costs about a millisecond under the GIL.
    """

    def __init__(self, fetch: Callable[[Cursor], Page]) -> None:
        self._fetch = fetch
        self._requests: queue.SimpleQueue[tuple[Cursor, Future[Page]] | None] = queue.SimpleQueue()
        threading.Thread(target=self._work, name="batchsync-fetch", daemon=True).start()

    def submit(self, cursor: Cursor) -> Future[Page]:
        future: Future[Page] = Future()
        self._requests.put((cursor, future))
        return future

    def close(self) -> None:
        self._requests.put(None)

    def _work(self) -> None:
        while (request := self._requests.get()) is not None:
            cursor, future = request
            try:
                future.set_result(self._fetch(cursor))
            except BaseException as exc:  # handed to the waiting thread, which re-raises it
                future.set_exception(exc)
