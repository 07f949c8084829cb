"""How a run is asked for (RunOptions) and what it reports while it goes (Progress)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from batchsync.config import Condition
from batchsync.errors import ConfigError
from batchsync.models import Trigger, WriteCounts


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How to run a pipeline; the CLI flags and the Python API's keyword arguments."""

    trigger: Trigger = Trigger.MANUAL
    full_refresh: bool = False
    dry_run: bool = False
    page_size: int | None = None
    db_batch_size: int | None = None
    concurrency: int | None = None
    """Requests in flight at once for this run (CLI --concurrency), over the pipeline's `concurrency`."""
    filters: Mapping[str, Condition] = field(default_factory=dict)
    """Extra conditions on the keys a lookup refreshes (CLI --filter), ANDed with the config's where."""
    params: Mapping[str, str] = field(default_factory=dict)
    """Query parameters set for this run only (CLI --param NAME=VALUE), over the source's `params`. Part
    of the pass's settings: an unfinished pass resumes only with the same ones."""
    run_id: str | None = None
    """The id the run's row will have; None makes a new one. The control API names a run it starts in
    its answer, before the run has begun."""
    key_range: KeyRange | None = None
    """A lookup's shard: only the keys after the first bound (None: from the first key) up to the second,
    included. Set by a distributed lookup for each of its units, never by users."""


KeyRange = tuple[Any, Any]
"""(after, last): the keys of a lookup shard, after `after` (None: from the first) up to `last`."""


def parse_cli_params(texts: Sequence[str]) -> dict[str, str]:
    """`--param filter_by=Status.Active` (repeatable) → {"filter_by": "Status.Active"}. Raises
    ConfigError for text without `=`, an empty name, or a name given twice."""
    params: dict[str, str] = {}
    for text in texts:
        name, sign, value = text.partition("=")
        name = name.strip()
        if not sign or not name:
            raise ConfigError(f"--param {text!r}: use NAME=VALUE, e.g. --param filter_by=Status.Active")
        if name in params:
            raise ConfigError(f"--param {name} is given twice ({params[name]!r} and {value!r}); give it once")
        params[name] = value
    return params


@dataclass(frozen=True, slots=True)
class Progress:
    """Reported after every committed batch (and by a fan-out after each entity it finishes), for
    progress bars."""

    pages: int
    records: int
    pass_records: int
    expected_total: int | None
    counts: WriteCounts
    is_pass_complete: bool = False
    entities_done: int = 0
    entities_total: int | None = None
    """Fan-out only: entities processed (synced, failed or skipped, in this run or the one it resumes)
    out of how many; `entities_total` is None for a single pipeline."""

    @classmethod
    def of_parts(cls, latest: Iterable[Progress], *, done: int, total: int) -> Progress:
        """A run of several units (a fan-out's children, a pull's ranges) as one report: the pages,
        records and counts of each unit's latest report so far, and `done` units out of `total`."""
        parts = list(latest)
        counts = WriteCounts()
        for part in parts:
            counts += part.counts
        pages, records = sum(part.pages for part in parts), sum(part.records for part in parts)
        return cls.of_units(pages=pages, records=records, counts=counts, done=done, total=total)

    @classmethod
    def of_units(cls, *, pages: int, records: int, counts: WriteCounts, done: int, total: int) -> Progress:
        """A run of several units as one report, from its figures so far: `done` units out of `total`."""
        return cls(
            pages=pages,
            records=records,
            pass_records=done,
            expected_total=total,
            counts=counts,
            is_pass_complete=done == total,
            entities_done=done,
            entities_total=total,
        )


ProgressCallback = Callable[[Progress], None]
