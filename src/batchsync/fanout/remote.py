"""A fan-out's entities on the Celery workers: each eligible entity a unit (distributed/dispatch.py),
the skipped ones decided here, each outcome added to the fan-out as if a thread of its own had synced
the entity (its totals, and the entity processed in the fan-out's checkpoint)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from batchsync.config.execution import ExecutionConfig
from batchsync.distributed.dispatch import RemoteUnits, UnitSpec, line_of
from batchsync.distributed.outcome import UnitOutcome
from batchsync.fanout.entities import Decision
from batchsync.models import EntityResult, RunStatus

if TYPE_CHECKING:
    from batchsync.fanout.run import FanoutRun


def run_on_workers(
    fanout: FanoutRun,
    engine: Engine,
    execution: ExecutionConfig,
    decisions: list[Decision],
    processed: Callable[[str], None],
) -> list[EntityResult]:
    """The entities' results, in the order of `decisions`; `processed(entity_id)` as each one ends
    (an entity interrupted by a stop is not processed: the resumed fan-out syncs it again)."""
    results: dict[str, EntityResult] = {}
    by_unit = {f"entity:{decision.id}": decision for decision in decisions}

    def finished(unit_id: str, outcome: UnitOutcome) -> None:
        decision = by_unit[unit_id]
        fanout.add_totals(outcome)
        result = line_of(outcome, decision.id, decision.label)
        if result is None:
            return
        results[unit_id] = result
        processed(decision.id)

    specs = []
    for unit_id, decision in by_unit.items():
        if decision.skip_reason is None:
            specs.append(UnitSpec(unit_id, {"kind": "entity", "entity": decision.id}))
            continue
        skipped = fanout.sync_entity(decision)  # decided without a request: no worker needed
        assert skipped is not None
        finished(unit_id, UnitOutcome(entity=skipped, status=RunStatus.SUCCEEDED, counts=skipped.counts))
    remote = RemoteUnits(
        engine,
        execution,
        fanout.name,
        fanout.run_id,
        fanout.options,
        fanout.stop,
        on_progress=fanout.on_progress,
        lease_seconds=fanout.pipeline.lease_seconds,
    )
    remote.run(specs, finished, done_before=fanout.entities_done, total=fanout.entities_total)
    return [results[unit_id] for unit_id in by_unit if unit_id in results]
