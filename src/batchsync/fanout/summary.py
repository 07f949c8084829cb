"""A fan-out's outcome in one RunResult: its status from its entities' outcomes, the summary line a user
reads, and what `--only` named that is no entity at all. Pure: from outcomes to the result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from batchsync.config import EntitiesConfig
from batchsync.engine.options import RunOptions
from batchsync.fanout.entities import Decision
from batchsync.models import DeadLetterReport, EntityResult, EntityStatus, RunResult, RunStatus, WriteCounts


@dataclass(frozen=True, slots=True)
class FanoutTotals:
    """What the fan-out's child syncs added up to, and who ran it how."""

    run_id: str
    pipeline: str
    options: RunOptions
    api_calls: int
    pages: int
    committed_batches: int
    dead_letters: Sequence[DeadLetterReport]
    only: Sequence[str]
    unknown: Sequence[str]
    entities: EntitiesConfig


def dry_entity(decision: Decision) -> EntityResult:
    """What a dry run reports for an entity: skipped and why, or how many children would be synced."""
    if decision.skip_reason is not None:
        return EntityResult(decision.id, decision.label, EntityStatus.SKIPPED, reason=decision.skip_reason)
    names = ", ".join(child_id for child_id, _ in decision.children)
    return EntityResult(
        decision.id,
        decision.label,
        EntityStatus.WOULD_SYNC,
        reason=f"{len(decision.children)} to sync: {names}",
        children=len(decision.children),
    )


def fanout_result(
    totals: FanoutTotals, started_at: datetime, results: list[EntityResult], interruption: str | None
) -> RunResult:
    statuses = [result.status for result in results]
    counts = WriteCounts()
    for result in results:
        counts += result.counts
    message = _message(totals, statuses, interruption)
    return RunResult(
        run_id=totals.run_id,
        pipeline=totals.pipeline,
        trigger=totals.options.trigger,
        status=_status(totals, statuses, interruption),
        started_at=started_at,
        finished_at=datetime.now(UTC),
        api_calls=totals.api_calls,
        pages=totals.pages,
        counts=counts,
        is_pass_complete=interruption is None,
        dry_run=totals.options.dry_run,
        error=interruption if interruption else (message if not results else None),
        entities=tuple(results),
        message=message,
        dead_letters=tuple(totals.dead_letters),
        warnings=(unknown_ids(totals.entities, totals.unknown),) if totals.unknown and results else (),
        only=tuple(sorted(totals.only)),
        committed_batches=totals.committed_batches,
    )


def _status(totals: FanoutTotals, statuses: list[EntityStatus], interruption: str | None) -> RunStatus:
    successful = statuses.count(EntityStatus.SUCCEEDED)
    failed = statuses.count(EntityStatus.FAILED)
    skipped = statuses.count(EntityStatus.SKIPPED)
    if interruption:
        return RunStatus.CANCELLED
    if not statuses or (failed and not successful and not skipped):
        return RunStatus.FAILED
    if failed or totals.dead_letters:  # an entity failed, or some of the records it synced did
        return RunStatus.PARTIAL
    return RunStatus.SUCCEEDED


def _message(totals: FanoutTotals, statuses: list[EntityStatus], interruption: str | None) -> str:
    if not statuses:
        suffix = f" ({unknown_ids(totals.entities, totals.unknown)})" if totals.unknown else ""
        return "no entities to sync" + suffix
    skipped = statuses.count(EntityStatus.SKIPPED)
    verb = "Bulk sync dry run" if totals.options.dry_run else "Bulk sync completed"
    if interruption:
        verb = "Bulk sync interrupted"
    if totals.options.dry_run:
        return f"{verb}: {statuses.count(EntityStatus.WOULD_SYNC)} would be synced, {skipped} skipped"
    successful = statuses.count(EntityStatus.SUCCEEDED)
    failed = statuses.count(EntityStatus.FAILED)
    return f"{verb}: {successful} successful, {failed} failed, {skipped} skipped"


def unknown_ids(entities: EntitiesConfig, unknown: Sequence[str]) -> str:
    """`--only nobody: no entity has that id (in table users, by id)`: which ids did nothing, and why."""
    origin = f"table {entities.table}" if entities.table else "the entities the API lists"
    ids = ", ".join(unknown)
    verb = "has that id" if len(unknown) == 1 else "has these ids"
    return f"--only {ids}: no entity {verb} (in {origin}, by {entities.id_field})"
