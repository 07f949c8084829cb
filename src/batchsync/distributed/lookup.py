"""A lookup on the workers: its keys, read in key order here, cut into shards of `shard_size` keys,
each shard a unit (its own checkpoint, `pipeline/shard/after..last`) run by a worker as an ordinary
lookup narrowed to those keys. The pipeline's own checkpoint lists the shards done in this pass, so a
rerun skips them and resumes the others from their checkpoints (as long as the keys table has not
changed in between: shards cut from other keys are other shards, which start afresh). One shard failing
never stops the others; the pass is complete once every shard is done.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from batchsync.config import Config, LookupSourceConfig, PipelineConfig
from batchsync.config.execution import ExecutionConfig
from batchsync.database import database_errors, open_database
from batchsync.distributed.dispatch import run_parts_remotely
from batchsync.engine.ending import run_under_lease
from batchsync.engine.lookup_keys import LookupKeys, prepare_lookup_table
from batchsync.engine.options import ProgressCallback, RunOptions
from batchsync.engine.partitions.summary import partitioned_result, totals_of
from batchsync.engine.plans import lookup_source, plan_for
from batchsync.engine.unit import WorkUnit
from batchsync.errors import ConfigError, DatabaseCallError, SinkError
from batchsync.logs import run_context
from batchsync.models import Checkpoint, EntityResult, EntityStatus, RunResult
from batchsync.state import checkpoints, runs
from batchsync.state.checkpoints import unit_key
from batchsync.state.leases import Lease
from batchsync.state.tables import ensure_state_tables


@dataclass(frozen=True, slots=True)
class Shard:
    """The keys after `after` (None: from the first) up to `last`, included."""

    after: Any
    last: Any

    @property
    def id(self) -> str:
        return f"{'' if self.after is None else self.after}..{self.last}"


def lookup_of(pipeline: PipelineConfig, name: str) -> LookupSourceConfig:
    source = lookup_source(pipeline.source)
    if source is None:
        raise ConfigError(f"{name} is not a lookup pipeline")
    return source


def shard_unit(config: Config, name: str, shard: Shard, *, run_id: str, options: RunOptions) -> WorkUnit:
    """The unit that refreshes `shard`'s keys: the lookup narrowed to them, under its own checkpoint."""
    return WorkUnit(
        config=config,
        name=name,
        pipeline=config.pipeline(name),
        state_key=unit_key(name, "shard", shard.id),
        dead_letter_key=name,
        run_id=run_id,
        options=dataclasses.replace(options, key_range=(shard.after, shard.last)),
        reports_position=False,
        settles_dead_letters=False,
    )


def prepare_sharded_lookup(
    config: Config,
    name: str,
    options: RunOptions,
    execution: ExecutionConfig,
    *,
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
) -> Callable[[], RunResult]:
    """Lookup `name`'s run as shards on the workers, checked now (ConfigError)."""
    pipeline = config.pipeline(name)
    lookup_of(pipeline, name)
    plan_for(pipeline, options)
    lookup = ShardedLookup(config, name, options, execution, stop or threading.Event(), on_progress)

    def start() -> RunResult:
        with run_context(lookup.run_id, name):
            return lookup.execute()

    return start


class ShardedLookup:
    def __init__(
        self,
        config: Config,
        name: str,
        options: RunOptions,
        execution: ExecutionConfig,
        stop: threading.Event,
        on_progress: ProgressCallback | None,
    ) -> None:
        self.config, self.name, self.options, self.execution = config, name, options, execution
        self.pipeline = config.pipeline(name)
        self.source = lookup_of(self.pipeline, name)
        self.run_id = options.run_id or str(uuid.uuid4())
        self.stop, self.on_progress = stop, on_progress
        self._done: set[str] = set()
        self._committed = 0

    def execute(self) -> RunResult:
        started_at = datetime.now(UTC)
        engine = open_database(self.config.database, state_schema=self.config.state_schema)
        try:
            ensure_state_tables(engine)
            prepare_lookup_table(engine, self.source, self.pipeline.destination, dry_run=False)
            lease = Lease(engine, self.name, self.run_id, self.pipeline.lease_seconds)
            return run_under_lease(
                engine, lease, started_at, lambda: self._run(engine, started_at), stop=self.stop
            )
        finally:
            engine.dispose()

    def _run(self, engine: Engine, started_at: datetime) -> RunResult:
        runs.record_start(engine, self.run_id, self.name, self.options.trigger, started_at)
        checkpoint = self._pass(engine)
        shards = self._shards(engine)
        ids = [shard.id for shard in shards]
        before = [
            EntityResult(shard.id, None, EntityStatus.SKIPPED, reason="done earlier in this pass")
            for shard in shards
            if shard.id in self._done
        ]
        pending = {
            f"shard:{index}": (shard.id, {"kind": "shard", "after": shard.after, "last": shard.last})
            for index, shard in enumerate(shards)
            if shard.id not in self._done
        }

        def succeeded(shard_id: str) -> None:
            self._done.add(shard_id)
            self._save(engine, checkpoint, ids)

        remote = run_parts_remotely(
            engine,
            self.execution,
            self.name,
            self.run_id,
            self.options,
            self.stop,
            pending,
            started_at=started_at,
            on_succeeded=succeeded,
            on_progress=self.on_progress,
            lease_seconds=self.pipeline.lease_seconds,
            done_before=len(before),
            total=len(shards),
        )
        is_complete = all(shard_id in self._done for shard_id in ids)
        if is_complete:
            self._save(engine, checkpoint, ids)
        interruption = remote.interruption
        if self.stop.is_set() and not is_complete and interruption is None:
            interruption = "interrupted"
        totals = totals_of(
            remote.results,
            run_id=self.run_id,
            pipeline=self.name,
            options=self.options,
            own_batches=self._committed,
            is_complete=is_complete,
            interruption=interruption,
            verb="Sharded lookup",
            parts="shards",
        )
        entities = before + remote.entities
        order = {shard_id: index for index, shard_id in enumerate(ids)}
        return partitioned_result(totals, started_at, sorted(entities, key=lambda each: order[each.id]))

    def _shards(self, engine: Engine) -> list[Shard]:
        """The keys, in key order, cut into shards of `shard_size` (one read of a key column)."""
        keys = LookupKeys(self.source, dict(self.options.filters))
        shards: list[Shard] = []
        after: Any = None
        with database_errors(), engine.connect() as connection:
            while True:
                chunk = keys.next_after(connection, after, self.source.shard_size)
                if not chunk:
                    return shards
                shards.append(Shard(after, chunk[-1]))
                after = chunk[-1]

    def _pass(self, engine: Engine) -> Checkpoint:
        with engine.connect() as connection:
            stored = checkpoints.load(connection, self.name)
        cursor = stored.cursor if stored is not None and stored.is_started else None
        if stored is not None and not self.options.full_refresh and isinstance(cursor, dict):
            done = cursor.get("done")
            if isinstance(done, list):
                self._done = {str(each) for each in done}
                return stored
        return Checkpoint(cursor={"done": []}, pass_started_at=datetime.now(UTC), fingerprint="shards")

    def _save(self, engine: Engine, checkpoint: Checkpoint, ids: list[str]) -> None:
        done = [shard_id for shard_id in ids if shard_id in self._done]
        is_complete = len(done) == len(ids)
        following = dataclasses.replace(
            checkpoint,
            cursor=None if is_complete else {"done": done},
            is_complete=is_complete,
            pass_records=len(done),
            total_expected=len(ids),
            last_synced_at=datetime.now(UTC),
        )
        position = runs.RunPosition({"shards_done": len(done), "shards": len(ids)}, is_complete)
        try:
            with engine.begin() as connection:
                checkpoints.save(connection, self.name, following)
                runs.record_batch(connection, self.run_id, runs.BatchTally(), position)
        except DatabaseCallError as exc:
            raise SinkError(f"cannot save the sharded lookup's progress: {exc.reason}") from exc
        self._committed += 1
