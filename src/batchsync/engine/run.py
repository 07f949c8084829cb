"""One run of one pipeline: decide where to start, walk the pass (twice if drift asks for it), record
the outcome. A failed run never raises: the failure is in the result and the run record."""

from __future__ import annotations

import functools
import logging
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from batchsync.config import (
    Config,
    LookupSourceConfig,
    PipelineConfig,
    PythonSourceConfig,
    RestSourceConfig,
    Rule,
)
from batchsync.database import database_error_reason, open_database
from batchsync.engine.batches import BatchWriter
from batchsync.engine.ending import end_run, release_after_crash
from batchsync.engine.liverecord import LiveRunRecord
from batchsync.engine.lookup import LookupRefresher
from batchsync.engine.lookup_keys import prepare_lookup_table
from batchsync.engine.options import Progress, ProgressCallback, RunOptions
from batchsync.engine.records import RecordRouter
from batchsync.engine.targeted import check_targetable, fetch_by_ids
from batchsync.engine.walk import PassWalker
from batchsync.errors import (
    BatchsyncError,
    CheckpointError,
    ConfigError,
    QuotaExhaustedError,
    SinkError,
)
from batchsync.http.auth import build_auth
from batchsync.http.client import HttpClient
from batchsync.http.ratelimit import RateLimiter
from batchsync.http.retry import RetryPolicy
from batchsync.logs import run_context
from batchsync.models import Checkpoint, DriftReport, RunResult, RunStatus
from batchsync.redaction import Redactor
from batchsync.sinks import make_sink
from batchsync.sinks.base import Sink
from batchsync.sinks.mapping import RowMapper
from batchsync.sinks.schema import ensure_table, table_exists
from batchsync.sources.base import PagedSource
from batchsync.sources.drift import drift_warning
from batchsync.sources.incremental import Incremental
from batchsync.sources.paginators import make_paginator
from batchsync.sources.pull import PullSource, source_fingerprint
from batchsync.sources.python import PythonSource, load_function
from batchsync.sources.settings import (
    mismatch_message,
    params_fingerprint,
    rest_settings,
    settings_of_fingerprint,
    with_params,
)
from batchsync.state import checkpoints, deadletters, runs
from batchsync.state.deadletters import DeadLetter
from batchsync.state.leases import Lease
from batchsync.state.tables import checkpoints as checkpoints_table
from batchsync.state.tables import ensure_state_tables, state_table_exists

log = logging.getLogger("batchsync.engine")


def run_targeted(
    config: Config, name: str, options: RunOptions, *, ids: Sequence[str], stop: threading.Event | None = None
) -> RunResult:
    """Fetch just the records with these ids and upsert them; the pass checkpoint is left alone."""
    run = PipelineRun(config, name, options, stop or threading.Event(), None, only_ids=ids)
    with run_context(run.run_id, name):
        return run.execute()


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
    run = PipelineRun(config, name, options or RunOptions(), stop or threading.Event(), on_progress)
    with run_context(run.run_id, name):
        return run.execute()


class PipelineRun:
    def __init__(
        self,
        config: Config,
        name: str,
        options: RunOptions,
        stop: threading.Event,
        on_progress: ProgressCallback | None,
        *,
        pipeline: PipelineConfig | None = None,
        state_key: str | None = None,
        record_run: bool = True,
        only_ids: Sequence[str] = (),
        run_id: str | None = None,
    ) -> None:
        """`pipeline`, `state_key` and `record_run` serve fan-out: a child sync runs a derived pipeline
        under its own checkpoint key, inside the parent's run record."""
        self.config = config
        self.name = name
        self.params = dict(options.params)
        self.pipeline: PipelineConfig = with_params(pipeline or config.pipeline(name), self.params)
        self.state_key = state_key or name
        self.record_run = record_run and not options.dry_run
        self.only_ids = [item.strip() for item in only_ids if item.strip()]
        if self.only_ids:
            check_targetable(self.pipeline.rest_source)
        self.options = options
        self.stop = stop
        self.on_progress = on_progress
        self.redactor = Redactor(config.env_secrets | self.pipeline.secret_values())
        incremental = getattr(self.pipeline.source, "incremental", None)
        self.incremental = Incremental(incremental) if incremental else None
        if isinstance(self.pipeline.source, PythonSourceConfig):
            load_function(self.pipeline.source.function)  # an import error is a config error: fail now
        if options.filters and not isinstance(self.pipeline.source, LookupSourceConfig):
            raise ConfigError("--filter applies to lookup pipelines (it picks the keys to refresh)")
        self.run_id = run_id or str(uuid.uuid4())
        self.pages = 0
        self.expected_total: int | None = None
        self._refresher_in_use: LookupRefresher | None = None
        self._dialect = "sqlite"
        self._client: HttpClient | None = None

    @functools.cached_property
    def mapper(self) -> RowMapper:
        return RowMapper(self.pipeline.destination)

    @functools.cached_property
    def sink(self) -> Sink:
        return make_sink(self._dialect, self.pipeline.destination)

    @property
    def is_lookup(self) -> bool:
        return isinstance(self.pipeline.source, LookupSourceConfig)

    def execute(self) -> RunResult:
        started_at = datetime.now(UTC)
        engine = open_database(
            self.config.database, read_only=self.options.dry_run, state_schema=self.config.state_schema
        )
        self._dialect = engine.dialect.name
        try:
            if not self.options.dry_run:
                ensure_state_tables(engine)
            if isinstance(self.pipeline.source, LookupSourceConfig):
                prepare_lookup_table(
                    engine, self.pipeline.source, self.pipeline.destination, self.options.dry_run
                )
            elif not self.options.dry_run:
                ensure_table(engine, self.sink.table, self.pipeline.destination)
            has_table = table_exists(
                engine, self.pipeline.destination.table, self.pipeline.destination.db_schema
            )
            stored, has_dead_letters = self._stored_state(engine)
            start = self._starting_checkpoint(stored)
            writer = BatchWriter(
                self.state_key,
                self.run_id,
                self.sink,
                incremental=self.incremental,
                redactor=self.redactor,
                fail_on_record_error=self.pipeline.on_record_error == "fail",
                dry_run=self.options.dry_run,
                has_dead_letters=has_dead_letters,
                table_exists=has_table,
                on_missing=self.pipeline.destination.on_missing,
                dead_letters_under=self.name,
                settles_dead_letters_at_pass_end=not self.is_lookup and self.state_key == self.name,
                updates_existing_rows=self.is_lookup,
                live_record=self._live_record(),
            )
            if not self.record_run:  # dry runs, and a fan-out's child syncs (inside the parent's lease)
                return self._run(engine, writer, start, started_at)
            lease = Lease(engine, self.name, self.run_id, self.pipeline.lease_seconds)
            lease.acquire(started_at)
            try:
                runs.record_start(engine, self.run_id, self.name, self.options.trigger, started_at)
                result = self._run(engine, writer, start, started_at)
            except BaseException:
                release_after_crash(engine, lease)
                raise
            return end_run(engine, result, lease)
        finally:
            engine.dispose()

    def _run(
        self, engine: Engine, writer: BatchWriter, start: Checkpoint, started_at: datetime
    ) -> RunResult:
        timeout = httpx.Timeout(self.pipeline.timeout.read, connect=self.pipeline.timeout.connect)
        token_client = httpx.Client(timeout=timeout)
        client = self._http_client(timeout, token_client)
        self._client = client
        status, error, final = RunStatus.SUCCEEDED, None, start
        warnings: list[str] = []
        drift = DriftReport()
        tally: BatchWriter | LookupRefresher = self._refresher(client, writer) if self.is_lookup else writer
        self._refresher_in_use = tally if isinstance(tally, LookupRefresher) else None
        try:
            with engine.connect() as connection:  # one connection for the run, a transaction per batch
                if isinstance(tally, LookupRefresher):
                    try:
                        final = tally.refresh(connection, start)
                    finally:
                        self.pages += tally.pages
                elif self.only_ids:
                    warnings = self._sync_ids(connection, client, tally)
                else:
                    final, drift, warnings = self._walk_passes(connection, client, tally, start)
            if not final.is_complete and not self.only_ids:
                status = RunStatus.CANCELLED
            elif tally.failures:
                status = RunStatus.PARTIAL
        except QuotaExhaustedError as exc:
            status, error = RunStatus.CANCELLED, self.redactor.redact(str(exc))
        except KeyboardInterrupt:
            status, error = RunStatus.CANCELLED, "interrupted"
        except BatchsyncError as exc:
            status, error = RunStatus.FAILED, self.redactor.redact(str(exc))
            log.info("%s failed: %s", self.name, error)
        except SQLAlchemyError as exc:
            status, error = (
                RunStatus.FAILED,
                self.redactor.redact(f"the database failed: {database_error_reason(exc)}"),
            )
        except Exception as exc:  # a bug: record it as a failed run rather than a ghost "running" one
            status, error = RunStatus.FAILED, self.redactor.redact(f"internal error: {exc!r}")
            log.exception("%s failed with an internal error", self.name)
        finally:
            client.close()
            token_client.close()
        if status is RunStatus.CANCELLED or self.only_ids:  # a targeted run reports the pass as it stands
            final = self._committed_checkpoint(engine, final)
        result = RunResult(
            run_id=self.run_id,
            pipeline=self.name,
            trigger=self.options.trigger,
            status=status,
            started_at=started_at,
            finished_at=datetime.now(UTC),
            api_calls=client.api_calls,
            pages=self.pages,
            counts=tally.counts,
            is_pass_complete=final.is_complete,
            dry_run=self.options.dry_run,
            error=error,
            failures=tuple(tally.failures),
            warnings=tuple(warnings),
            drift=drift,
            retries=client.retries,
            deleted=tally.deleted,
            only=tuple(self.only_ids),
            committed_batches=tally.batches_committed,
        )
        log.info(
            "%s %s: %d records, %d API calls", self.name, status.value, result.total_synced, result.api_calls
        )
        return result

    def _walk_passes(
        self, connection: Connection, client: HttpClient, writer: BatchWriter, start: Checkpoint
    ) -> tuple[Checkpoint, DriftReport, list[str]]:
        """Walk the pass from `start`; with on_drift: repass, walk once more if the collection drifted."""
        checkpoint, drift = start, DriftReport()
        warnings: list[str] = []
        may_repass = self.pipeline.on_drift == "repass"
        while True:
            source = self._source(client, checkpoint)
            walker = PassWalker(
                source,
                self.mapper,
                writer,
                db_batch_size=self.options.db_batch_size or self.pipeline.db_batch_size,
                redactor=self.redactor,
                fail_on_record_error=self.pipeline.on_record_error == "fail",
                stop=self.stop,
                on_batch=functools.partial(self._report_progress, writer),
                record_filter=self._record_filter,
            )
            try:
                final = walker.walk(connection, checkpoint)
            finally:
                self.pages += walker.pages
            if not final.is_complete or not source.is_positional:
                return final, drift, warnings
            walker.recheck_front()
            report = walker.drift.report()
            if not report.is_drift:
                return final, drift, warnings
            drift = DriftReport(drift.inserted + report.inserted, drift.deleted + report.deleted)
            warnings.append(drift_warning(report, will_repass=may_repass))
            log.warning("%s: %s", self.name, warnings[-1])
            if not may_repass:
                return final, drift, warnings
            may_repass = False
            checkpoint = self._new_pass(final, pass_watermark=final.pass_watermark)

    def _sync_ids(self, connection: Connection, client: HttpClient, writer: BatchWriter) -> list[str]:
        """Fetch and write the `--only` records; returns a warning for each the record_filter leaves out."""
        source = self.pipeline.rest_source
        key_path = self.pipeline.destination.columns[self.pipeline.destination.primary_key].path
        records, errors = fetch_by_ids(source, client, self.only_ids, key_path)
        self.pages += 1
        router = RecordRouter(
            self.mapper,
            record_filter=self._record_filter,
            redactor=self.redactor,
            fail_on_record_error=self.pipeline.on_record_error == "fail",
        )
        batch = router.route_all(records).with_dead_letters(
            DeadLetter(item, "{}", self.redactor.redact(error)) for item, error in errors.items()
        )
        writer.write_only(connection, batch)
        return [
            self.redactor.redact(
                f"--only {item.row_key}: not synced, the record_filter leaves it out: {item.reason}"
            )
            for item in batch.filtered
        ]

    @property
    def _record_filter(self) -> list[Rule]:
        """A rest source's record_filter; other sources have none."""
        record_filter: list[Rule] = getattr(self.pipeline.source, "record_filter", [])
        return record_filter

    def _refresher(self, client: HttpClient, writer: BatchWriter) -> LookupRefresher:
        source = self.pipeline.source
        assert isinstance(source, LookupSourceConfig)
        return LookupRefresher(
            source,
            self.pipeline.destination,
            client,
            writer,
            filters=dict(self.options.filters),
            redactor=self.redactor,
            stop=self.stop,
            batch_size=self.options.page_size,
            fail_on_record_error=self.pipeline.on_record_error == "fail",
            on_batch=self._report_lookup_progress,
        )

    def _live_record(self) -> LiveRunRecord | None:
        """What keeps the run's row up to date batch by batch; a fan-out's child syncs add to the
        fan-out's row (their run id), without their own positions. None for a dry run: it has no row."""
        if self.options.dry_run:
            return None
        return LiveRunRecord(
            self.run_id, calls=self._calls_so_far, reports_position=self.state_key == self.name
        )

    def _calls_so_far(self) -> tuple[int, int]:
        client = self._client
        return (0, 0) if client is None else (client.api_calls, client.retries)

    def _report_lookup_progress(self, committed: Checkpoint) -> None:
        if self.on_progress is not None and self._refresher_in_use is not None:
            tally = self._refresher_in_use
            self.on_progress(
                Progress(
                    tally.pages,
                    tally.records,
                    committed.pass_records,
                    tally.expected_total,
                    tally.counts,
                    committed.is_complete,
                )
            )

    def _source(self, client: HttpClient, checkpoint: Checkpoint) -> PagedSource:
        config = self.pipeline.source
        if isinstance(config, PythonSourceConfig):
            return PythonSource(config, self.options.page_size)
        return PullSource(
            self.pipeline.rest_source,
            client,
            page_size=self.options.page_size,
            watermark=checkpoint.pass_watermark,
        )

    def _fingerprint(self) -> str:
        config = self.pipeline.source
        if isinstance(config, PythonSourceConfig):
            return f"python:{config.function}"
        if isinstance(config, LookupSourceConfig):
            return f"lookup:{config.keys.table}.{config.keys.column}"
        fingerprint = source_fingerprint(self.pipeline.rest_source, self.options.page_size)
        return fingerprint + params_fingerprint(self.params)

    def _settings(self) -> dict[str, str]:
        """What `_fingerprint` stands for, by name: kept in the checkpoint for the message of a mismatch."""
        config = self.pipeline.source
        if isinstance(config, PythonSourceConfig):
            return {"function": config.function}
        if isinstance(config, LookupSourceConfig):
            return {"keys": f"{config.keys.table}.{config.keys.column}"}
        return rest_settings(self.pipeline.rest_source, self.options.page_size, self.params)

    def _first_cursor(self) -> object:
        config = self.pipeline.source
        if isinstance(config, RestSourceConfig):
            return make_paginator(config.paginator, self.options.page_size).first_cursor()
        return None

    def _report_progress(
        self, writer: BatchWriter, committed: Checkpoint, pass_pages: int, expected_total: int | None
    ) -> None:
        if self.on_progress is not None:
            self.on_progress(
                Progress(
                    self.pages + pass_pages,
                    writer.records,
                    committed.pass_records,
                    expected_total,
                    writer.counts,
                    committed.is_complete,
                )
            )

    # --- where to start -------------------------------------------------------------------------------

    def _stored_state(self, engine: Engine) -> tuple[Checkpoint | None, bool]:
        """The saved checkpoint, and whether the pipeline has dead letters waiting to be resolved."""
        if self.options.dry_run and not state_table_exists(engine, checkpoints_table):
            return None, False
        with engine.connect() as connection:
            stored = checkpoints.load(connection, self.state_key)
            has_dead_letters = not self.options.dry_run and deadletters.count(connection, self.name) > 0
        return stored, has_dead_letters

    def _committed_checkpoint(self, engine: Engine, fallback: Checkpoint) -> Checkpoint:
        """The checkpoint as committed; `fallback` (what the run last committed or started from) when
        the database cannot be read just now, so the outcome is still reported."""
        if self.options.dry_run:
            return fallback
        try:
            with engine.connect() as connection:
                return checkpoints.load(connection, self.state_key) or fallback
        except (SQLAlchemyError, SinkError) as exc:
            reason = str(exc) if isinstance(exc, SinkError) else database_error_reason(exc)
            log.warning("cannot read the committed checkpoint back (%s); reporting the run's own", reason)
            return fallback

    def _starting_checkpoint(self, stored: Checkpoint | None) -> Checkpoint:
        """Resume an unfinished pass, or begin a new one from the saved watermark."""
        if stored is not None and stored.is_started and not self.options.full_refresh:
            if stored.fingerprint != self._fingerprint():
                before = stored.settings or settings_of_fingerprint(stored.fingerprint)
                message = mismatch_message(self.name, before, self._settings(), self.pipeline.source)
                raise CheckpointError(self.redactor.redact(message))
            log.info(
                "%s: resuming at cursor %r (+%d records), %d records already committed in this pass",
                self.name,
                stored.cursor,
                stored.skip_records,
                stored.pass_records,
            )
            return stored
        watermark = stored.watermark if stored else None
        pass_watermark = None
        if self.incremental is not None and not self.options.full_refresh:
            initial = self.incremental.config.initial_value
            pass_watermark = watermark if watermark is not None else initial
        return self._new_pass(stored or Checkpoint(), pass_watermark=pass_watermark)

    def _new_pass(self, previous: Checkpoint, *, pass_watermark: object) -> Checkpoint:
        return Checkpoint(
            cursor=self._first_cursor(),
            pass_started_at=datetime.now(UTC),
            pass_watermark=pass_watermark,
            watermark=previous.watermark,
            fingerprint=self._fingerprint(),
            last_synced_at=previous.last_synced_at,
            settings=self._settings(),
        )

    def _http_client(self, timeout: httpx.Timeout, token_client: httpx.Client) -> HttpClient:
        source = self.pipeline.source
        retry = self.pipeline.retry
        base_url, headers, auth = "http://127.0.0.1", {}, None  # a python source sends no request itself
        allowed_hosts: list[str] = []
        if isinstance(source, RestSourceConfig | LookupSourceConfig):
            base_url, headers, allowed_hosts = source.base_url, source.headers, source.allowed_hosts
            auth = build_auth(source.auth, token_client, self.redactor)
        return HttpClient(
            base_url,
            headers=headers,
            auth=auth,
            timeout=timeout,
            retry=RetryPolicy(
                max_attempts=retry.max_attempts,
                backoff_seconds=retry.backoff,
                max_backoff_seconds=retry.max_backoff,
                retry_on_status=frozenset(retry.retry_on),
            ),
            rate_limiter=RateLimiter(
                self.pipeline.rate_limit.per_second if self.pipeline.rate_limit else None,
                max_wait_seconds=retry.max_backoff,
            ),
            redactor=self.redactor,
            allowed_hosts=allowed_hosts,
        )
