"""Source plans: what differs per kind of source, behind one small object per kind, chosen in one place.

The run (engine/run.py) asks its plan for the pass's fingerprint, settings and first cursor, where its
requests go, what table to prepare, and how its batches are written; it never asks which kind of
source it has. `plan_for` is the only place that does: a new kind of source is a new plan here.
"""

from __future__ import annotations

from collections.abc import Sequence

from batchsync.config import (
    LookupSourceConfig,
    PipelineConfig,
    PythonSourceConfig,
    RestSourceConfig,
    SourceConfig,
)
from batchsync.engine.options import RunOptions
from batchsync.engine.plans.base import SourcePlan, refuse_params
from batchsync.engine.plans.lookup import LookupPlan
from batchsync.engine.plans.pull import PythonPlan, RestPlan
from batchsync.errors import ConfigError

__all__ = ["SourcePlan", "lookup_source", "partitioned_source", "plan_for"]


def plan_for(pipeline: PipelineConfig, options: RunOptions, *, only_ids: Sequence[str] = ()) -> SourcePlan:
    """The plan for one run of `pipeline` with `options` (a targeted sync when `only_ids`). Raises
    ConfigError for options its kind of source does not take, or a function a python source cannot
    import: before anything is opened or written."""
    source = pipeline.source
    only = bool(only_ids)
    if isinstance(source, RestSourceConfig):
        if source.partition is not None and not only:
            raise ConfigError(
                "a partitioned pipeline is no single pass: run it with batchsync.run or `batchsync run`"
            )
        return RestPlan(pipeline, source, options, only)
    if isinstance(source, PythonSourceConfig):
        return PythonPlan(pipeline, source, options, only)
    if isinstance(source, LookupSourceConfig):
        return LookupPlan(pipeline, source, options, only)
    if options.params:
        raise refuse_params(source.type)
    raise ConfigError(
        f"a {source.type} pipeline is no single pass: run it with batchsync.run or `batchsync run`"
    )


def partitioned_source(source: SourceConfig) -> RestSourceConfig | None:
    """`source` when it is a partitioned pull (engine/partitions/ runs it, a unit per range), else None."""
    return source if isinstance(source, RestSourceConfig) and source.partition is not None else None


def lookup_source(source: SourceConfig) -> LookupSourceConfig | None:
    """`source` when it is a lookup (a distributed run cuts its keys into shards), else None."""
    return source if isinstance(source, LookupSourceConfig) else None
