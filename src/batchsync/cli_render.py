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
from batchsync.cli_tables import Column, compact_time, fitted_table
from batchsync.config import LookupSourceConfig, PythonSourceConfig, RestSourceConfig, SourceConfig
from batchsync.models import RunResult, RunStatus
from batchsync.operations import PipelineStats, PipelineStatus

_FAILURES_SHOWN = 20
"""Failed records listed under a run's summary; `batchsync errors NAME` lists them all."""

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
    columns = [
        Column("id"),
        Column("label", priority=3),
        Column("status"),
        Column("reason / error", priority=1, is_text=True),
        Column("new/upd/same", priority=2, justify="right"),
        Column("seconds", priority=4, justify="right"),
    ]
    styles = {"success": "green", "failed": "red", "skipped": "yellow", "would sync": "cyan"}
    rows = []
    for entity in result.entities:
        counts = entity.counts
        rows.append(
            [
                escape(entity.id),
                escape(entity.label or ""),
                f"[{styles.get(entity.status.value, 'white')}]{entity.status.value}[/]",
                escape(entity.error or entity.reason or ""),
                f"{counts.created:,}/{counts.updated:,}/{counts.unchanged:,}",
                f"{entity.duration_seconds:.2f}",
            ]
        )
    console.print(fitted_table(console.width, columns, rows))
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
    failed = f", {len(result.failures):,} failed" if result.failures else ""
    console.print(
        f"  {result.total_synced:,} records: {counts.created:,} {verb}created, "
        f"{counts.updated:,} {verb}updated, {counts.unchanged:,} unchanged{failed}",
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
    elif result.is_pass_complete:
        console.print("  pass complete", highlight=False)
    else:
        console.print("  pass not complete: the next run resumes from the checkpoint", highlight=False)
    if result.error:  # first: a warning about recording the run's end must not bury why it failed
        console.print(f"  [red]error:[/] {escape(result.error)}", highlight=False)
    for warning in result.warnings:
        console.print(f"  [yellow]warning:[/] {escape(warning)}", highlight=False)
    for failure in result.failures[:_FAILURES_SHOWN]:
        console.print(
            f"  [red]failed[/] {escape(str(failure.key))}: {escape(failure.error)}", highlight=False
        )
    hidden = len(result.failures) - _FAILURES_SHOWN
    if hidden > 0:  # a dry run stores no dead letters: nowhere to point to
        where = "" if result.dry_run else f" (batchsync errors {escape(result.pipeline)})"
        console.print(f"  … and {hidden:,} more{where}", highlight=False)
    if not result.dry_run:
        console.print(f"  run id {result.run_id}", style="dim", highlight=False)


def render_status(console: Console, statuses: list[PipelineStatus]) -> None:
    columns = [
        Column("pipeline"),
        Column("state"),
        Column("pass records", priority=1, justify="right"),
        Column("last sync (UTC)"),
        Column("table rows", priority=2, justify="right"),
        Column("last run", priority=1),
        Column("position", priority=3, is_text=True),
    ]
    rows = []
    for item in statuses:
        position = "-" if item.cursor is None else escape(f"{item.cursor}")
        if item.skip_records:
            position += f" (+{item.skip_records})"
        done = f"{item.pass_records:,}"
        if item.pass_unit != "records":  # a fan-out counts the entities it has done
            done += f" {item.pass_unit}"
        if item.total_expected:
            done += f" / {item.total_expected:,}"
        rows.append(
            [
                escape(item.pipeline),
                item.state,
                done,
                compact_time(item.last_synced_at),
                "-" if item.table_rows is None else f"{item.table_rows:,}",
                _last_run(item.last_run),
                position,
            ]
        )
    console.print(fitted_table(console.width, columns, rows))


def _last_run(row: dict[str, Any] | None) -> str:
    """The last run's outcome; for a run still going (here or in another process), its progress."""
    if row is None:
        return "-"
    status = RunStatus(row["status"])
    text = f"[{_STATUS_STYLE.get(status, 'white')}]{status.value}[/]"
    if status is RunStatus.RUNNING:
        text += f": {row['created'] + row['updated'] + row['unchanged']:,} so far"
    return text


def render_runs(console: Console, history: list[dict[str, Any]]) -> None:
    if not history:
        console.print("no runs yet", highlight=False)
        return
    columns = [
        Column("started (UTC)"),
        Column("pipeline"),
        Column("trigger", priority=4),
        Column("status"),
        Column("seconds", priority=2, justify="right"),
        Column("new/upd/same", priority=1, justify="right"),
        Column("calls", priority=3, justify="right"),
        Column("error", priority=1, is_text=True),
    ]
    rows = []
    for row in history:
        seconds = row["duration_seconds"]
        status = RunStatus(row["status"])
        rows.append(
            [
                compact_time(row["started_at"]),
                escape(row["pipeline"]),
                row["trigger"],
                f"[{_STATUS_STYLE.get(status, 'white')}]{status.value}[/]",
                "-" if seconds is None else f"{seconds:.2f}",
                f"{row['created']:,}/{row['updated']:,}/{row['unchanged']:,}",
                f"{row['api_calls']:,}",
                escape((row["error"] or "")[:120]),
            ]
        )
    console.print(fitted_table(console.width, columns, rows))


def render_dead_letters(console: Console, pipeline: str, letters: list[dict[str, Any]], total: int) -> None:
    """`letters`, the newest of the pipeline's `total` dead letters."""
    if not letters:
        console.print(f"{pipeline}: no dead letters", highlight=False)
        return
    columns = [
        Column("when (UTC)"),
        Column("key"),  # whole, to copy into `run --only`; a key longer than the terminal ends in "…"
        Column("error", is_text=True),
        Column("record", priority=1, is_text=True),
    ]
    rows = [
        [
            compact_time(letter["created_at"]),
            escape("(no key)" if letter["key"] is None else str(letter["key"])),
            escape(letter["error"]),
            escape(letter["record"][:200]),
        ]
        for letter in letters
    ]
    console.print(fitted_table(console.width, columns, rows))
    shown = f"{len(letters):,}" if len(letters) >= total else f"{len(letters):,} of {total:,}"
    noun = "dead letter" if total == 1 else "dead letters"
    console.print(
        f"{shown} {noun}; `batchsync retry-failed {pipeline}` processes them again", highlight=False
    )


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
