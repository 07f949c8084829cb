"""batchsync: keep a local SQL database in step with remote HTTP APIs — in batches, resumably, exactly once.

The Python API mirrors the CLI:

    import batchsync
    result = batchsync.run("zoho_items", config="batchsync.yaml")
    print(result.status, result.counts)
"""

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
