"""A partitioned pull's ranges, and each range as a unit of work. Pure: from config to values.

Ranges are half-open, [lo, hi), and meet end to end (the hi of one is the lo of the next), so with an
API filter that is half-open too (`>= lo` and `< hi`, or `> lo` and `<= hi`) every record is in exactly
one range. A range's checkpoint key holds its bounds: a changed `start` or `step` makes other ranges,
which start afresh, and never resumes a cursor taken under other bounds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from batchsync.config import Config, PartitionConfig, PipelineConfig, RestSourceConfig
from batchsync.config.http import MAX_PARTITIONS, bound_text
from batchsync.engine.options import RunOptions
from batchsync.engine.unit import WorkUnit
from batchsync.errors import ConfigError
from batchsync.state.checkpoints import unit_key


@dataclass(frozen=True, slots=True)
class Range:
    """One range [lo, hi), its bounds as they are sent."""

    lo: str
    hi: str

    @property
    def id(self) -> str:
        return f"{self.lo}..{self.hi}"


def ranges_of(partition: PartitionConfig, now: datetime) -> list[Range]:
    """The ranges from `start` to `end`, `step` apart; with `end: now`, up to the step that holds `now`
    (its range ends after `now`, so the grid, and with it each range's checkpoint, stays put from one
    run to the next until `now` passes into the next step). Raises ConfigError for a start after now."""
    end = partition.end
    if end == "now":
        if now < partition.start:  # type: ignore[operator]  # `now` goes with moments only (checked)
            raise ConfigError(f"partition.start ({bound_text(partition.start)}) is after now")
        count = partition.steps_to(now)
        if partition.start + count * partition.step <= now:  # type: ignore[operator]
            count += 1  # `now` on a step's boundary: the next step holds it
        if count > MAX_PARTITIONS:
            raise ConfigError(f"partition: {count} ranges up to now, more than {MAX_PARTITIONS}")
    else:
        count = partition.steps_to(end)
    bounds = [partition.start + index * partition.step for index in range(count + 1)]  # type: ignore[operator]
    if end != "now":
        bounds[-1] = end
    return [Range(bound_text(lo), bound_text(hi)) for lo, hi in pairwise(bounds)]


def range_unit(
    config: Config,
    name: str,
    pipeline: PipelineConfig,
    source: RestSourceConfig,
    part: Range,
    *,
    run_id: str,
    options: RunOptions,
) -> WorkUnit:
    """The unit that syncs range `part` of pipeline `name`: the source without its partition, the range's
    bounds among its params. Its dead letters are filed under the pipeline, which settles them once every
    range is done; the pipeline's row, not the range's checkpoint, tells the run's position. Each range
    sends one request at a time: the pipeline's concurrency is spent on ranges."""
    assert source.partition is not None
    bounds = source.partition.params_for(part.lo, part.hi)
    ranged = source.model_copy(update={"partition": None, "params": {**source.params, **bounds}})
    return WorkUnit(
        config=config,
        name=name,
        pipeline=pipeline.model_copy(update={"source": ranged}),
        state_key=unit_key(name, "partition", part.id),
        dead_letter_key=name,
        run_id=run_id,
        options=dataclasses.replace(options, concurrency=1),
        reports_position=False,
        settles_dead_letters=False,
    )
