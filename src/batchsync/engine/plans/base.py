"""What a source plan promises the run.

`SourcePlan` is the one seam where kinds of source differ (engine/plans/__init__.py picks one per
pipeline). Its `batches` is the plan's write path (engine/writepath.py): the run drives any of them the
same way and reads the same totals back.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import Engine

from batchsync.config import IncrementalConfig, PipelineConfig
from batchsync.config.http import HttpEndpointConfig
from batchsync.engine.starting import PassIdentity
from batchsync.engine.writepath import BatchContext, Batches
from batchsync.errors import ConfigError


class SourcePlan(Protocol):
    """What differs per kind of source, for one run of one pipeline."""

    @property
    def pipeline(self) -> PipelineConfig:
        """The pipeline as this run uses it: its source with the run's `--param`s applied."""
        ...

    @property
    def endpoint(self) -> HttpEndpointConfig | None:
        """Where the source's requests go; None for a source that sends none itself."""
        ...

    @property
    def incremental(self) -> IncrementalConfig | None: ...

    def identity(self) -> PassIdentity:
        """The fingerprint, settings and first cursor of a pass of this source."""
        ...

    def prepare_table(self, engine: Engine, dry_run: bool) -> None:
        """Create or evolve what the run writes into (a dry run changes nothing)."""
        ...

    def batches(self, context: BatchContext) -> Batches: ...


def refuse_params(kind: str) -> ConfigError:
    return ConfigError(f"--param applies to rest sources (and a fan-out's child syncs), not to {kind}")


def refuse_only_ids(kind: str) -> ConfigError:
    return ConfigError(f"this needs a rest source, not {kind}")


def refuse_filters() -> ConfigError:
    return ConfigError("--filter applies to lookup pipelines (it picks the keys to refresh)")
