"""A partitioned pull's outcome in one RunResult: each range as an entry of `entities` (so the CLI's
table and `--json` show them as they show a fan-out's entities), the run's status from theirs. Pure.

Succeeded when every range is done; partial when some failed (or dead-lettered records) and others
did not; failed when every range it tried failed; cancelled when stopped before all were done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from batchsync.engine.options import RunOptions
from batchsync.models import DeadLetterReport, EntityResult, EntityStatus, RunResult, RunStatus, WriteCounts


@dataclass(frozen=True, slots=True)
class RangeTotals:
    """What the ranges' runs added up to, and who ran the pull how."""

    run_id: str
    pipeline: str
    options: RunOptions
    counts: WriteCounts
    """Of every range run, an interrupted one's included."""
    api_calls: int
    pages: int
    retries: int
    committed_batches: int
    dead_letters: Sequence[DeadLetterReport]
    is_complete: bool
    """Every range is done in this pass (by this run or the ones it resumes)."""
    interruption: str | None
    """Why the run stopped before all ranges were done (a stop, a quota), None otherwise."""
    verb: str = "Partitioned pull"
    parts: str = "ranges"
    """How the message names the run and its parts (a distributed lookup's are shards)."""


def totals_of(
    results: Sequence[RunResult],
    *,
    run_id: str,
    pipeline: str,
    options: RunOptions,
    own_batches: int,
    is_complete: bool,
    interruption: str | None,
    verb: str = "Partitioned pull",
    parts: str = "ranges",
) -> RangeTotals:
    """The totals of the runs of a pull's ranges (or a lookup's shards); `own_batches`: the run's own
    commits of its progress."""
    counts = WriteCounts()
    for each in results:
        counts += each.counts
    return RangeTotals(
        run_id=run_id,
        pipeline=pipeline,
        options=options,
        counts=counts,
        api_calls=sum(each.api_calls for each in results),
        pages=sum(each.pages for each in results),
        retries=sum(each.retries for each in results),
        committed_batches=own_batches + sum(each.committed_batches for each in results),
        dead_letters=[letter for each in results for letter in each.dead_letters],
        is_complete=is_complete,
        interruption=interruption,
        verb=verb,
        parts=parts,
    )


def part_result(part_id: str, result: RunResult, duration_seconds: float) -> EntityResult:
    """A range's (or shard's) line in the run's result: done once its pass is complete."""
    is_done = result.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL) and result.is_pass_complete
    return EntityResult(
        part_id,
        None,
        EntityStatus.SUCCEEDED if is_done else EntityStatus.FAILED,
        error=None if is_done else result.error or result.status.value,
        counts=result.counts,
        duration_seconds=duration_seconds,
    )


def partitioned_result(totals: RangeTotals, started_at: datetime, ranges: list[EntityResult]) -> RunResult:
    status = _status(totals, [each.status for each in ranges])
    failed = [each for each in ranges if each.status is EntityStatus.FAILED]
    error = totals.interruption
    if error is None and failed:
        error = f"{len(failed)} of {len(ranges)} {totals.parts} failed: " + "; ".join(
            f"{each.id}: {each.error}" for each in failed
        )
    return RunResult(
        run_id=totals.run_id,
        pipeline=totals.pipeline,
        trigger=totals.options.trigger,
        status=status,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        api_calls=totals.api_calls,
        pages=totals.pages,
        counts=totals.counts,
        is_pass_complete=totals.is_complete,
        dry_run=totals.options.dry_run,
        error=error,
        dead_letters=tuple(totals.dead_letters),
        retries=totals.retries,
        entities=tuple(ranges),
        message=_message(totals, ranges),
        committed_batches=totals.committed_batches,
    )


def _status(totals: RangeTotals, statuses: list[EntityStatus]) -> RunStatus:
    if totals.interruption is not None:
        return RunStatus.CANCELLED
    failed = statuses.count(EntityStatus.FAILED)
    if failed and failed == len(statuses) - statuses.count(EntityStatus.SKIPPED):
        return RunStatus.FAILED  # every range it tried failed
    if failed or totals.dead_letters:
        return RunStatus.PARTIAL
    return RunStatus.SUCCEEDED


def _message(totals: RangeTotals, ranges: list[EntityResult]) -> str:
    statuses = [each.status for each in ranges]
    verb = totals.verb
    if totals.options.dry_run:
        verb += " dry run"
    elif totals.interruption is not None:
        verb += " interrupted"
    done = statuses.count(EntityStatus.SUCCEEDED)
    failed = statuses.count(EntityStatus.FAILED)
    skipped = statuses.count(EntityStatus.SKIPPED)
    return f"{verb}: {done} {totals.parts} synced, {failed} failed, {skipped} done before"
