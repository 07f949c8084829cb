"""How a run is asked for (RunOptions) and what it reports while it goes (Progress)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from batchsync.models import Trigger, WriteCounts


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
