"""batchsync: keep a local SQL database in step with remote HTTP APIs — in batches, resumably, exactly once.

The Python API mirrors the CLI:

    import batchsync
    result = batchsync.run("zoho_items", config="batchsync.yaml")
    print(result.status, result.counts)
"""

import typing

from batchsync import exports as _exports

if typing.TYPE_CHECKING:  # the names as type checkers and readers see them; loaded on first use below
    from batchsync.config import Config, load_config, parse_config
    from batchsync.engine import Progress, RunOptions
    from batchsync.errors import (
        BatchsyncError,
        CheckpointError,
        ConfigError,
        PaginationError,
        PermanentHttpError,
        QuotaExhaustedError,
        RecordError,
        RunConflictError,
        SinkError,
        SourceError,
        TransientHttpError,
    )
    from batchsync.models import Checkpoint, RunResult, RunStatus, Trigger, WriteCounts
    from batchsync.models import DeadLetterReport as RecordFailure  # the public name, kept for users' code
    from batchsync.operations import (
        PipelineStats,
        PipelineStatus,
        dead_letters,
        history,
        reset,
        retry_failed,
        run,
        stats,
        status,
    )
    from batchsync.sources.python import SourcePage

# Each public name and where it lives: loaded when first used, not when `batchsync` is imported
# (exports.py says why).
_WHERE: dict[str, tuple[str, str]] = {
    "BatchsyncError": ("batchsync.errors", "BatchsyncError"),
    "Checkpoint": ("batchsync.models", "Checkpoint"),
    "CheckpointError": ("batchsync.errors", "CheckpointError"),
    "Config": ("batchsync.config", "Config"),
    "ConfigError": ("batchsync.errors", "ConfigError"),
    "PaginationError": ("batchsync.errors", "PaginationError"),
    "PermanentHttpError": ("batchsync.errors", "PermanentHttpError"),
    "PipelineStats": ("batchsync.operations", "PipelineStats"),
    "PipelineStatus": ("batchsync.operations", "PipelineStatus"),
    "Progress": ("batchsync.engine", "Progress"),
    "QuotaExhaustedError": ("batchsync.errors", "QuotaExhaustedError"),
    "RecordError": ("batchsync.errors", "RecordError"),
    "RecordFailure": ("batchsync.models", "DeadLetterReport"),
    "RunConflictError": ("batchsync.errors", "RunConflictError"),
    "RunOptions": ("batchsync.engine", "RunOptions"),
    "RunResult": ("batchsync.models", "RunResult"),
    "RunStatus": ("batchsync.models", "RunStatus"),
    "SinkError": ("batchsync.errors", "SinkError"),
    "SourceError": ("batchsync.errors", "SourceError"),
    "SourcePage": ("batchsync.sources.python", "SourcePage"),
    "TransientHttpError": ("batchsync.errors", "TransientHttpError"),
    "Trigger": ("batchsync.models", "Trigger"),
    "WriteCounts": ("batchsync.models", "WriteCounts"),
    "dead_letters": ("batchsync.operations", "dead_letters"),
    "history": ("batchsync.operations", "history"),
    "load_config": ("batchsync.config", "load_config"),
    "parse_config": ("batchsync.config", "parse_config"),
    "reset": ("batchsync.operations", "reset"),
    "retry_failed": ("batchsync.operations", "retry_failed"),
    "run": ("batchsync.operations", "run"),
    "stats": ("batchsync.operations", "stats"),
    "status": ("batchsync.operations", "status"),
}


__getattr__ = _exports.loader("batchsync", globals(), _WHERE)


__version__ = "0.1.0"

__all__ = [
    "BatchsyncError",
    "Checkpoint",
    "CheckpointError",
    "Config",
    "ConfigError",
    "PaginationError",
    "PermanentHttpError",
    "PipelineStats",
    "PipelineStatus",
    "Progress",
    "QuotaExhaustedError",
    "RecordError",
    "RecordFailure",
    "RunConflictError",
    "RunOptions",
    "RunResult",
    "RunStatus",
    "SinkError",
    "SourceError",
    "SourcePage",
    "TransientHttpError",
    "Trigger",
    "WriteCounts",
    "dead_letters",
    "history",
    "load_config",
    "parse_config",
    "reset",
    "retry_failed",
    "run",
    "stats",
    "status",
]
