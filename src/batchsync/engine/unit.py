"""A unit of work: one pass of one pipeline (or of one fan-out child) from its checkpoint, as a value.

Everything a unit needs is in it or in the database: the config (for the database URL and secrets),
the pipeline to run, where its checkpoint and dead letters live, and the run it belongs to. So a unit
can be run anywhere the config and the database are reachable (`engine.run.run_unit`): in this process,
in a thread beside others, or on a worker in another machine. The engine takes every such choice from
the unit as given; it never guesses what kind of caller made it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from batchsync.config import Config, PipelineConfig
from batchsync.engine.options import RunOptions


@dataclass(frozen=True, slots=True)
class WorkUnit:
    """One pass of `pipeline` from the checkpoint at `state_key`, inside run `run_id`."""

    config: Config
    name: str
    """The pipeline's name as the user knows it: logs, messages, the run's lease and result."""
    pipeline: PipelineConfig
    state_key: str
    """Where the unit's checkpoint is kept."""
    dead_letter_key: str
    """Under which name its dead letters are filed (a fan-out's children file theirs under the fan-out)."""
    run_id: str
    options: RunOptions
    reports_position: bool = True
    """Whether the unit's checkpoint is its run's position in `batchsync_runs` (False for a fan-out's
    children: the fan-out's row tells how many entities are done)."""
    settles_dead_letters: bool = True
    """Whether a complete full pass removes the dead letters filed under `dead_letter_key` before it
    began (False where other units file theirs there too: a fan-out's children share the fan-out's)."""
    only_ids: tuple[str, ...] = ()
    """A targeted sync of just these records, leaving the pass checkpoint alone; empty for a pass."""

    @property
    def concurrency(self) -> int:
        """Requests the unit may have in flight at once: the run's `--concurrency`, else the pipeline's."""
        return self.options.concurrency or self.pipeline.concurrency

    @classmethod
    def of_pipeline(
        cls, config: Config, name: str, options: RunOptions, *, only_ids: Sequence[str] = ()
    ) -> WorkUnit:
        """Pipeline `name` of `config` as a run of its own: its own checkpoint, dead letters and run id."""
        return cls(
            config=config,
            name=name,
            pipeline=config.pipeline(name),
            state_key=name,
            dead_letter_key=name,
            run_id=options.run_id or str(uuid.uuid4()),
            options=options,
            only_ids=tuple(item.strip() for item in only_ids if item.strip()),
        )
