"""The plans of sources that bring records page by page: `rest` (an API collection) and `python` (a
generator). Both write through engine/passes.py; they differ in their pages, fingerprint and filter.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine
from typing_extensions import override

from batchsync.config import IncrementalConfig, PipelineConfig, PythonSourceConfig, RestSourceConfig, Rule
from batchsync.config.http import HttpEndpointConfig
from batchsync.engine.options import RunOptions
from batchsync.engine.passes import PullBatches, PullSourcePlan
from batchsync.engine.plans.base import refuse_filters, refuse_only_ids, refuse_params
from batchsync.engine.starting import PassIdentity
from batchsync.engine.targeted import check_targetable, fetch_by_ids
from batchsync.engine.writepath import BatchContext, Batches
from batchsync.http.client import HttpClient
from batchsync.models import Checkpoint, JSONObject
from batchsync.sinks import make_sink
from batchsync.sinks.schema import ensure_table
from batchsync.sources.base import PagedSource
from batchsync.sources.paginators import make_paginator
from batchsync.sources.pull import PullSource, source_fingerprint
from batchsync.sources.python import PythonSource, load_function
from batchsync.sources.settings import params_fingerprint, rest_settings, with_params


def _prepare_pull_table(engine: Engine, pipeline: PipelineConfig, dry_run: bool) -> None:
    if not dry_run:
        ensure_table(engine, make_sink(engine.dialect.name, pipeline.destination).table, pipeline.destination)


class RestPlan:
    """A paged API collection; the run's `--param`s join the source's params and its pass settings."""

    def __init__(self, pipeline: PipelineConfig, source: RestSourceConfig, options: RunOptions, only: bool):
        self.source = with_params(source, options.params)
        self.pipeline = pipeline.model_copy(update={"source": self.source}) if options.params else pipeline
        if only:
            check_targetable(self.source)
        if options.filters:
            raise refuse_filters()
        self._options = options

    @property
    def endpoint(self) -> HttpEndpointConfig:
        return self.source

    @property
    def incremental(self) -> IncrementalConfig | None:
        return self.source.incremental

    @property
    def record_filter(self) -> list[Rule]:
        return self.source.record_filter

    def identity(self) -> PassIdentity:
        page_size, params = self._options.page_size, self._options.params
        return PassIdentity(
            source_fingerprint(self.source, page_size) + params_fingerprint(params),
            rest_settings(self.source, page_size, params),
            make_paginator(self.source.paginator, page_size).first_cursor(),
        )

    def prepare_table(self, engine: Engine, dry_run: bool) -> None:
        _prepare_pull_table(engine, self.pipeline, dry_run)

    def paged_source(self, client: HttpClient, checkpoint: Checkpoint) -> PagedSource:
        return PullSource(
            self.source, client, page_size=self._options.page_size, watermark=checkpoint.pass_watermark
        )

    def fetch_by_ids(
        self, client: HttpClient, ids: Sequence[str], key_path: str
    ) -> tuple[list[JSONObject], dict[str, str]]:
        return fetch_by_ids(self.source, client, ids, key_path)

    def batches(self, context: BatchContext) -> Batches:
        return PullBatches(self, context)


class PythonPlan(PullSourcePlan):
    """A user's generator of records or pages (sources/python.py); it sends no request itself."""

    endpoint = None
    incremental = None

    def __init__(self, pipeline: PipelineConfig, source: PythonSourceConfig, options: RunOptions, only: bool):
        if options.params:
            raise refuse_params(source.type)
        if only:
            raise refuse_only_ids(source.type)
        load_function(source.function)  # an import error is a config error: fail now
        if options.filters:
            raise refuse_filters()
        self.pipeline = pipeline
        self.source = source
        self._options = options

    @property
    def record_filter(self) -> list[Rule]:
        """None: the function decides which records it yields."""
        return []

    def identity(self) -> PassIdentity:
        return PassIdentity(f"python:{self.source.function}", {"function": self.source.function})

    def prepare_table(self, engine: Engine, dry_run: bool) -> None:
        _prepare_pull_table(engine, self.pipeline, dry_run)

    @override
    def paged_source(self, client: HttpClient, checkpoint: Checkpoint) -> PagedSource:
        return PythonSource(self.source, self._options.page_size)

    @override
    def fetch_by_ids(
        self, client: HttpClient, ids: Sequence[str], key_path: str
    ) -> tuple[list[JSONObject], dict[str, str]]:
        raise refuse_only_ids(self.source.type)  # refused when the plan was made; here for the protocol

    def batches(self, context: BatchContext) -> Batches:
        return PullBatches(self, context)
