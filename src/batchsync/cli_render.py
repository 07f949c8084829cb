"""How the CLI shows things: the live progress bar, the run summary, status and history tables."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from batchsync import engine
from batchsync.config import LookupSourceConfig, PythonSourceConfig, RestSourceConfig, SourceConfig
from batchsync.models import RunResult, RunStatus
from batchsync.operations import PipelineStats, PipelineStatus

_STATUS_STYLE = {
    RunStatus.SUCCEEDED: "green",
    RunStatus.PARTIAL: "yellow",
    RunStatus.FAILED: "red",
    RunStatus.CANCELLED: "yellow",
    RunStatus.RUNNING: "cyan",
}


class ProgressDisplay:
    """A Rich progress bar fed by the engine's progress callback: records, pages, rate, ETA."""

    def __init__(self, console: Console, label: str, *, enabled: bool) -> None:
        self._enabled = enabled
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("records · {task.fields[pages]} pages · {task.fields[rate]} rec/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
            disable=not enabled,
        )
        self._task: TaskID = self._progress.add_task(label, total=None, pages=0, rate="-")
        self._first_batch_at: float | None = None
        self._records_before = 0

    def __enter__(self) -> ProgressDisplay:
        if self._enabled:
            self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._enabled:
            self._progress.stop()

    def update(self, progress: engine.Progress) -> None:
        # The rate counts from the first batch, not from start-up (opening the database, first request).
        now = time.monotonic()
        if self._first_batch_at is None:
            self._first_batch_at, self._records_before = now, progress.records
        elapsed = now - self._first_batch_at
        done = progress.records - self._records_before
        rate = f"{done / elapsed:,.0f}" if elapsed > 0 else "-"
        total = progress.expected_total
        if progress.is_pass_complete or (total is not None and total < progress.pass_records):
            total = progress.pass_records  # totals from page counts are estimates; the end is exact
        self._progress.update(
            self._task,
            completed=progress.pass_records,
            total=total,
            pages=progress.pages,
            rate=rate,
        )


def describe_source(source: SourceConfig) -> tuple[str, str]:
    """Where a source reads from, and what kind of sync it is, for tables."""
    if isinstance(source, RestSourceConfig):
        return source.base_url + source.path, source.paginator.type if source.paginator else "single page"
    if isinstance(source, LookupSourceConfig):
        return source.base_url + source.path, f"lookup of {source.keys.table}.{source.keys.column}"
    if isinstance(source, PythonSourceConfig):
        return source.function, "python"
    origin = source.entities.table or "an API list"
    return f"entities from {origin}", "fan-out"


def render_entities(console: Console, result: RunResult) -> None:
    """The fan-out table: one line per entity, with its outcome and why."""
    table = Table("id", "label", "status", "reason / error", "new/upd/same", "seconds")
    for column in table.columns:
        column.overflow = "fold"
    styles = {"success": "green", "failed": "red", "skipped": "yellow", "would sync": "cyan"}
    for entity in result.entities:
        counts = entity.counts
        table.add_row(
            escape(entity.id),
            escape(entity.label or ""),
            f"[{styles.get(entity.status.value, 'white')}]{entity.status.value}[/]",
            escape(entity.error or entity.reason or ""),
            f"{counts.created}/{counts.updated}/{counts.unchanged}",
            f"{entity.duration_seconds:.2f}",
        )
    console.print(table)
    if result.message:
        console.print(escape(result.message), highlight=False)


def render_result(console: Console, result: RunResult) -> None:
    if result.entities or result.message:
        render_entities(console, result)
    style = _STATUS_STYLE.get(result.status, "white")
    title = "dry run of " if result.dry_run else ""
    console.print(
        f"[bold]{title}{result.pipeline}[/]: [{style}]{result.status.value}[/] "
        f"in {result.duration_seconds:.2f}s",
        highlight=False,
    )
    verb = "would be " if result.dry_run else ""
    counts = result.counts
    filtered = f", {counts.filtered:,} filtered out" if counts.filtered else ""
    console.print(
        f"  {result.total_synced:,} records: {counts.created:,} {verb}created, "
        f"{counts.updated:,} {verb}updated, {counts.unchanged:,} unchanged{filtered}",
        highlight=False,
    )
    rate = result.total_synced / result.duration_seconds if result.duration_seconds > 0 else 0.0
    console.print(
        f"  {result.pages:,} pages, {result.api_calls:,} API calls, {rate:,.0f} records/s",
        highlight=False,
    )
    if result.deleted:
        console.print(f"  {result.deleted:,} rows gone from the source were deleted", highlight=False)
    if result.dry_run:
        console.print("  nothing was written", highlight=False)
    elif result.only:  # the run synced what --only named and left the pass alone: it has no pass to report
        console.print("  --only: just those ids; the pass checkpoint is left as it was", highlight=False)
    elif result.is_pass_complete:
        console.print("  pass complete", highlight=False)
    elif not result.committed_batches:
        console.print("  pass not complete: nothing was committed", highlight=False)
    else:
        console.print("  pass not complete: the next run resumes from the checkpoint", highlight=False)
    if result.error:  # first: a warning about recording the run's end must not bury why it failed
        console.print(f"  [red]error:[/] {escape(result.error)}", highlight=False)
    for warning in result.warnings:
        console.print(f"  [yellow]warning:[/] {escape(warning)}", highlight=False)
    for failure in result.failures[:20]:
        console.print(
            f"  [red]failed[/] {escape(str(failure.key))}: {escape(failure.error)}", highlight=False
        )
    if not result.dry_run:
        console.print(f"  run id {result.run_id}", style="dim", highlight=False)


def render_status(console: Console, statuses: list[PipelineStatus]) -> None:
    table = Table(
        "pipeline", "state", "position", "pass records", "last sync (UTC)", "table rows", "last run"
    )
    for column in table.columns:
        column.overflow = "fold"
    for item in statuses:
        position = "-" if item.cursor is None else escape(f"{item.cursor}")
        if item.skip_records:
            position += f" (+{item.skip_records})"
        total = f"{item.pass_records:,}"
        if item.total_expected:
            total += f" / {item.total_expected:,}"
        last_run = "-"
        if item.last_run:
            last_run = f"{item.last_run['status']} ({item.last_run['started_at'][:19]})"
        table.add_row(
            item.pipeline,
            item.state,
            position,
            total,
            item.last_synced_at.isoformat(timespec="seconds") if item.last_synced_at else "never",
            "-" if item.table_rows is None else f"{item.table_rows:,}",
            last_run,
        )
    console.print(table)


def render_runs(console: Console, history: list[dict[str, Any]]) -> None:
    table = Table(
        "started (UTC)", "pipeline", "trigger", "status", "seconds", "new/upd/same", "calls", "error"
    )
    for column in table.columns:
        column.overflow = "fold"
    for row in history:
        seconds = row["duration_seconds"]
        table.add_row(
            row["started_at"][:19].replace("T", " "),
            row["pipeline"],
            row["trigger"],
            row["status"],
            "-" if seconds is None else f"{seconds:.2f}",
            f"{row['created']}/{row['updated']}/{row['unchanged']}",
            str(row["api_calls"]),
            escape((row["error"] or "")[:120]),
        )
    console.print(table)


def render_dead_letters(console: Console, pipeline: str, letters: list[dict[str, Any]]) -> None:
    if not letters:
        console.print(f"{pipeline}: no dead letters", highlight=False)
        return
    table = Table("when (UTC)", "key", "error", "record")
    for column in table.columns:
        column.overflow = "fold"
    for letter in letters:
        table.add_row(
            letter["created_at"][:19].replace("T", " "),
            escape("(no key)" if letter["key"] is None else str(letter["key"])),
            escape(letter["error"]),
            escape(letter["record"][:200]),
        )
    console.print(table)
    console.print(f"{len(letters)} dead letter(s); `batchsync retry-failed {pipeline}` processes them again")


def render_stats(console: Console, figures: PipelineStats, stale_after: str) -> None:
    table = Table(show_header=False, box=None)
    last = figures.last_sync_at.isoformat(timespec="seconds") if figures.last_sync_at else "never"
    for label, value in (
        ("table", figures.table),
        ("rows", f"{figures.total_rows:,}"),
        ("seen by the last run", f"{figures.synced_last_run:,}"),
        (f"stale (not seen for {stale_after})", f"{figures.stale_rows:,}"),
        ("deleted (soft)", f"{figures.deleted_rows:,}"),
        ("records in error", f"{figures.rows_in_error:,}"),
        ("last sync (UTC)", last),
    ):
        table.add_row(label, escape(value))
    console.print(f"[bold]{escape(figures.pipeline)}[/]")
    console.print(table)
