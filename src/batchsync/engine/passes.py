"""How a pull run's batches are written: pass by pass through the source's pages (PassWalker), each batch
committed with its checkpoint (BatchWriter), or just the `--only` records of a targeted sync.

Used by the plans of sources that bring records (rest, python); a lookup's plan writes through its own
refresher, which commits through a BatchWriter too. `batch_writer` is the one place a BatchWriter is
made, so what a batch write needs is decided here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Connection, make_url

from batchsync.config import IncrementalConfig, Rule
from batchsync.engine.batches import BatchWriter, WriterTotals
from batchsync.engine.offload.process import Offload
from batchsync.engine.offload.wire import OffloadSpec
from batchsync.engine.options import Progress
from batchsync.engine.records import RecordRouter
from batchsync.engine.starting import PassIdentity, new_pass
from batchsync.engine.walk import PassWalker
from batchsync.engine.writepath import BatchContext, PassOutcome
from batchsync.engine.writerspec import WriterSpec
from batchsync.http.client import HttpClient
from batchsync.models import Checkpoint, DriftReport, JSONObject
from batchsync.sinks.mapping import RowMapper
from batchsync.sources.base import PagedSource
from batchsync.sources.drift import drift_warning
from batchsync.state.deadletters import DeadLetter

log = logging.getLogger("batchsync.engine")

OFFLOAD_AFTER_PAGES = 20
"""With `writer_process: auto`, a pass writes its first pages itself, and starts a writer process (which
takes about half a second) only then, and only when a known total does not say the pass is nearly
done: a short pass never starts one, a long one has it ready a few pages later."""


def writer_spec(
    context: BatchContext,
    *,
    incremental: IncrementalConfig | None,
    settles_dead_letters_at_pass_end: bool,
    updates_existing_rows: bool = False,
) -> WriterSpec:
    """The settings of a run's batch writer into the unit's destination, with its checkpoint and dead
    letters where the unit keeps them. `updates_existing_rows`: answers refresh rows already there (a
    lookup) instead of upserting records."""
    unit = context.unit
    return WriterSpec(
        state_key=unit.state_key,
        run_id=unit.run_id,
        dialect=context.dialect,
        destination=context.pipeline.destination,
        incremental=incremental,
        redactor=context.redactor,
        fail_on_record_error=context.pipeline.on_record_error == "fail",
        dry_run=unit.options.dry_run,
        table_exists=context.table_exists,
        dead_letters_under=unit.dead_letter_key,
        settles_dead_letters_at_pass_end=settles_dead_letters_at_pass_end,
        updates_existing_rows=updates_existing_rows,
    )


def batch_writer(
    context: BatchContext,
    *,
    incremental: IncrementalConfig | None,
    settles_dead_letters_at_pass_end: bool,
    updates_existing_rows: bool = False,
) -> BatchWriter:
    """The writer of a run's batches (see `writer_spec`); the one place the run's own is made."""
    spec = writer_spec(
        context,
        incremental=incremental,
        settles_dead_letters_at_pass_end=settles_dead_letters_at_pass_end,
        updates_existing_rows=updates_existing_rows,
    )
    return spec.writer(has_dead_letters=context.has_dead_letters, live_record=context.live_record)


class PullSourcePlan(Protocol):
    """What the plan of a source that brings records tells its write path."""

    @property
    def incremental(self) -> IncrementalConfig | None: ...

    @property
    def record_filter(self) -> list[Rule]: ...

    def identity(self) -> PassIdentity: ...

    def paged_source(self, client: HttpClient, checkpoint: Checkpoint) -> PagedSource:
        """The source's pages for a pass at `checkpoint` (its watermark picks what an incremental asks)."""
        ...

    def fetch_by_ids(
        self, client: HttpClient, ids: Sequence[str], key_path: str
    ) -> tuple[list[JSONObject], dict[str, str]]:
        """The records for `ids`, and an error for each that could not be fetched (targeted sync)."""
        ...


class PullBatches(WriterTotals):
    """Writes a pull run's batches and keeps its totals."""

    def __init__(self, plan: PullSourcePlan, context: BatchContext) -> None:
        self._plan = plan
        self._context = context
        pipeline = context.pipeline
        self._mapper = RowMapper(pipeline.destination)
        self._fail_on_record_error = pipeline.on_record_error == "fail"
        unit = context.unit
        self._spec = writer_spec(
            context, incremental=plan.incremental, settles_dead_letters_at_pass_end=unit.settles_dead_letters
        )
        self._writer = self._spec.writer(
            has_dead_letters=context.has_dead_letters, live_record=context.live_record
        )
        self.pages = 0

    def write(self, connection: Connection, start: Checkpoint) -> PassOutcome:
        if self._context.unit.only_ids:
            return PassOutcome(start, warnings=self._sync_ids(connection))
        return self._walk_passes(connection, start)

    def _walk_passes(self, connection: Connection, start: Checkpoint) -> PassOutcome:
        """Walk the pass from `start`; with on_drift: repass, walk once more if the collection drifted."""
        checkpoint, drift = start, DriftReport()
        warnings: list[str] = []
        may_repass = self._context.pipeline.on_drift == "repass"
        while True:
            source = self._plan.paged_source(self._context.client, checkpoint)
            walker = self._walker(source)
            try:
                final = walker.walk(connection, checkpoint)
            finally:
                self.pages += walker.pages
            if not final.is_complete or not source.is_positional:
                return PassOutcome(final, drift, warnings)
            walker.recheck_front()
            report = walker.drift.report()
            if not report.is_drift:
                return PassOutcome(final, drift, warnings)
            drift = DriftReport(drift.inserted + report.inserted, drift.deleted + report.deleted)
            warnings.append(drift_warning(report, will_repass=may_repass))
            log.warning("%s: %s", self._context.unit.name, warnings[-1])
            if not may_repass:
                return PassOutcome(final, drift, warnings)
            may_repass = False
            checkpoint = new_pass(
                final, self._plan.identity(), pass_watermark=final.pass_watermark, now=datetime.now(UTC)
            )

    def _walker(self, source: PagedSource) -> PassWalker:
        options = self._context.unit.options
        return PassWalker(
            source,
            self._mapper,
            self._writer,
            db_batch_size=options.db_batch_size or self._context.pipeline.db_batch_size,
            redactor=self._context.redactor,
            fail_on_record_error=self._fail_on_record_error,
            stop=self._context.stop,
            on_batch=self._report_progress,
            record_filter=self._plan.record_filter,
            concurrency=self._context.unit.concurrency,
            offload=self._offload(),
        )

    def _offload(self) -> Offload | None:
        """When this pass's batches go to a writer process (see engine/offload/), if ever: with
        `writer_process: auto`, a REST pull that is a run of its own (not a fan-out's child nor a
        partition's range, which run beside others already), into a database a second process can open,
        on a machine with a second CPU, once `OFFLOAD_AFTER_PAGES` pages are in; with `always`, any
        such pull from its first page on."""
        context, unit = self._context, self._context.unit
        setting = context.pipeline.writer_process
        database = unit.config.database
        if (
            setting == "never"
            or context.live_record is None  # a dry run writes nothing
            or context.pipeline.source.type != "rest"  # a python source's records need not be JSON
            or (database.startswith("sqlite") and make_url(database).database in (None, "", ":memory:"))
        ):
            return None
        if setting == "auto" and (unit.state_key != unit.name or (os.cpu_count() or 1) < 2):
            return None
        spec = OffloadSpec(
            database,
            unit.config.state_schema,
            self._spec,
            tuple(self._plan.record_filter),
            reports_position=unit.reports_position,
            db_batch_size=unit.options.db_batch_size or context.pipeline.db_batch_size,
        )
        after_pages = 0 if setting == "always" else OFFLOAD_AFTER_PAGES
        return Offload(
            spec,
            self._writer,
            context.live_record,
            after_pages=after_pages,
            concurrency=unit.concurrency,
            wait=setting == "always",
        )

    def _sync_ids(self, connection: Connection) -> list[str]:
        """Fetch and write the `--only` records; returns a warning for each the record_filter leaves out."""
        destination = self._context.pipeline.destination
        key_path = destination.columns[destination.primary_key].path
        only_ids = self._context.unit.only_ids
        redactor = self._context.redactor
        records, errors = self._plan.fetch_by_ids(self._context.client, only_ids, key_path)
        self.pages += 1
        router = RecordRouter(
            self._mapper,
            record_filter=self._plan.record_filter,
            redactor=redactor,
            fail_on_record_error=self._fail_on_record_error,
        )
        batch = router.route_all(records).with_dead_letters(
            [DeadLetter(item, "{}", redactor.redact(error)) for item, error in errors.items()]
        )
        self._writer.write_only(connection, batch)
        return [
            redactor.redact(
                f"--only {item.row_key}: not synced, the record_filter leaves it out: {item.reason}"
            )
            for item in batch.filtered
        ]

    def _report_progress(self, committed: Checkpoint, pass_pages: int, expected_total: int | None) -> None:
        on_progress = self._context.on_progress
        if on_progress is not None:
            on_progress(
                Progress(
                    self.pages + pass_pages,
                    self._writer.records,
                    committed.pass_records,
                    expected_total,
                    self._writer.counts,
                    committed.is_complete,
                )
            )
