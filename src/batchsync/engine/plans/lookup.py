"""The plan of a `lookup` source: keys from a local table, sent to an API, answers written back into the
same rows (engine/lookup.py). Its pass is over keys, in key order; the CLI's `--filter` narrows them.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from batchsync.config import IncrementalConfig, LookupSourceConfig, PipelineConfig
from batchsync.config.http import HttpEndpointConfig
from batchsync.engine.batches import WriterTotals
from batchsync.engine.lookup import LookupRefresher
from batchsync.engine.lookup_keys import prepare_lookup_table
from batchsync.engine.options import Progress, RunOptions
from batchsync.engine.passes import batch_writer
from batchsync.engine.plans.base import refuse_only_ids, refuse_params
from batchsync.engine.starting import PassIdentity
from batchsync.engine.writepath import BatchContext, Batches, PassOutcome
from batchsync.models import Checkpoint


class LookupPlan:
    """Refreshes the rows of `keys.table` in place."""

    incremental: IncrementalConfig | None = None

    def __init__(self, pipeline: PipelineConfig, source: LookupSourceConfig, options: RunOptions, only: bool):
        if options.params:
            raise refuse_params(source.type)
        if only:
            raise refuse_only_ids(source.type)
        self.pipeline = pipeline
        self.source = source
        self._options = options

    @property
    def endpoint(self) -> HttpEndpointConfig:
        return self.source

    def identity(self) -> PassIdentity:
        keys = f"{self.source.keys.table}.{self.source.keys.column}"
        return PassIdentity(f"lookup:{keys}", {"keys": keys})

    def prepare_table(self, engine: Engine, dry_run: bool) -> None:
        prepare_lookup_table(engine, self.source, self.pipeline.destination, dry_run)

    def batches(self, context: BatchContext) -> Batches:
        return LookupBatches(self.source, self._options, context)


class LookupBatches(WriterTotals):
    """A lookup run's write path: the refresher, and its totals."""

    def __init__(self, source: LookupSourceConfig, options: RunOptions, context: BatchContext) -> None:
        self._on_progress = context.on_progress
        # A lookup settles each key's dead letter as its answer lands: nothing is left for a pass's end.
        self._writer = writer = batch_writer(
            context, incremental=None, settles_dead_letters_at_pass_end=False, updates_existing_rows=True
        )
        self._refresher = LookupRefresher(
            source,
            context.pipeline.destination,
            context.client,
            writer,
            filters=dict(options.filters),
            key_range=options.key_range,
            redactor=context.redactor,
            stop=context.stop,
            batch_size=options.page_size,
            concurrency=context.unit.concurrency,
            fail_on_record_error=context.pipeline.on_record_error == "fail",
            on_batch=self._report_progress,
        )

    @property
    def pages(self) -> int:
        return self._refresher.pages

    def write(self, connection: Connection, start: Checkpoint) -> PassOutcome:
        return PassOutcome(self._refresher.refresh(connection, start))

    def _report_progress(self, committed: Checkpoint) -> None:
        if self._on_progress is not None:
            refresher = self._refresher
            self._on_progress(
                Progress(
                    refresher.pages,
                    refresher.records,
                    committed.pass_records,
                    refresher.expected_total,
                    refresher.counts,
                    committed.is_complete,
                )
            )
