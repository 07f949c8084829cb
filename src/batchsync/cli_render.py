"""How the CLI shows things: the live progress bar, the run summary, status and history tables."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.control import Control
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import Progress, ProgressColumn, Task, TaskID
from rich.progress_bar import ProgressBar
from rich.segment import ControlType
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from batchsync import engine
from batchsync.cli_tables import Column, compact_time, fitted_table
from batchsync.config import SourceConfig
from batchsync.models import RunResult, RunStatus
from batchsync.operations import PipelineStats, PipelineStatus

_DEAD_LETTERS_SHOWN = 20
"""Dead letters listed under a run's summary; `batchsync errors NAME` lists them all."""

_STATUS_STYLE = {
    RunStatus.SUCCEEDED: "green",
    RunStatus.PARTIAL: "yellow",
    RunStatus.FAILED: "red",
    RunStatus.CANCELLED: "yellow",
    RunStatus.RUNNING: "cyan",
}


class ProgressDisplay:
    """A live progress line on stderr, fed by the engine's progress callback.

    It starts with the run's first report, after its first committed batch: a config, lease or import
    error that stops the command before the run has begun draws no bar (and no empty one is left on
    screen). A fan-out shows entities done out of all, and the records of their syncs."""

    def __init__(self, console: Console, label: str, *, enabled: bool) -> None:
        self._console = console
        self._label = label
        self._enabled = enabled
        self._progress = Progress(_LineColumn(), console=console, transient=False, disable=not enabled)
        self._task: TaskID | None = None
        self._started_at = time.monotonic()
        self._first_batch_at: float | None = None
        self._records_before = 0

    def __enter__(self) -> ProgressDisplay:
        self._started_at = time.monotonic()  # the elapsed time counts from here, before the bar shows
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._progress.stop()

    def update(self, progress: engine.Progress) -> None:
        if not self._enabled:
            return
        if self._task is None:
            self._task = self._progress.add_task(
                self._label, total=None, records=0, pages=0, rate="-", since=self._started_at
            )
            self._progress.start()
        # The rate counts from the first batch, not from start-up (opening the database, first request).
        now = time.monotonic()
        if self._first_batch_at is None and progress.pages > 0:
            self._first_batch_at, self._records_before = now, progress.records
        elapsed = now - self._first_batch_at if self._first_batch_at is not None else 0.0
        done = progress.records - self._records_before
        rate = f"{done / elapsed:,.0f}" if elapsed > 0 else "-"
        total: int | None
        if progress.entities_total is not None:
            completed, total = progress.entities_done, progress.entities_total
        else:
            completed, total = progress.pass_records, progress.expected_total
            if progress.is_pass_complete or (total is not None and total < progress.pass_records):
                total = progress.pass_records  # totals from page counts are estimates; the end is exact
        self._progress.update(
            self._task,
            completed=completed,
            total=total,
            records=progress.records,
            pages=progress.pages,
            rate=rate,
            unit="entities" if progress.entities_total is not None else "records",
        )

    def say(self, text: str) -> None:
        """`text` on a line of its own: above the live bar (Rich redraws the bar below it), or, before
        the bar has started, at the start of the line, where a terminal may have echoed ^C."""
        if self._task is None and self._console.is_terminal:
            self._console.control(Control((ControlType.CARRIAGE_RETURN,), (ControlType.ERASE_IN_LINE, 2)))
        self._console.print(text, highlight=False)


class _LineColumn(ProgressColumn):
    """The whole progress line, spinner included; see `_ProgressLine`."""

    def __init__(self) -> None:
        super().__init__()
        self._spinner = Spinner("dots", style="progress.spinner")

    def render(self, task: Task) -> RenderableType:
        return _ProgressLine(task, self._spinner)


class _ProgressLine:
    """`⠋ label ━━━━━━━━ 12,345/50,000 records · 40 pages · 1,234 rec/s · 0:00:10 · ETA 0:00:31`, fitted
    to the terminal: the numbers that say how far and how long (done/total, rate, ETA) always stay; the
    bar shrinks first, then the pages and the elapsed time go, then the label is shortened, and only
    then does the bar go. Two columns stay free at the right margin, where a terminal echoes ^C: on the
    bar's line, Rich erases it with the bar when it redraws."""

    _BAR_MIN, _BAR_MAX, _LABEL_MIN, _ECHO_ROOM = 10, 40, 8, 2

    def __init__(self, task: Task, spinner: Spinner) -> None:
        self._task = task
        self._spinner = spinner

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        width = self._fitted(console).cell_len
        return Measurement(width, width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self._fitted(console)

    def _fitted(self, console: Console) -> Text:
        task = self._task
        width = max(1, console.width - self._ECHO_ROOM)
        fields = task.fields
        completed, total = int(task.completed), None if task.total is None else int(task.total)
        unit = fields.get("unit", "records")
        counts = (f"{completed:,}" if total is None else f"{completed:,}/{total:,}") + f" {unit}"
        if unit != "records":
            counts += f" · {fields['records']:,} records"
        parts = {
            "counts": counts,
            "pages": f"{fields['pages']:,} pages",
            "rate": f"{fields['rate']} rec/s",
            "elapsed": _clock(self._elapsed()),
            "eta": "ETA " + _clock(0 if task.finished else task.time_remaining),
        }
        label, bar = task.description, self._BAR_MIN
        for optional in ("pages", "elapsed"):
            if _length(label, bar, parts) > width:
                del parts[optional]
        excess = _length(label, bar, parts) - width
        if excess > 0:
            label = _shorten(label, max(self._LABEL_MIN, len(label) - excess))
        if _length(label, bar, parts) > width:
            bar = 0
            label = _shorten(label, max(1, len(label) - (_length(label, bar, parts) - width)))
        if bar:
            bar = min(self._BAR_MAX, bar + width - _length(label, bar, parts))
        frame = self._spinner.render(task.get_time())
        spinner = frame if isinstance(frame, Text) and not task.finished else Text(" ")
        line = Text.assemble(spinner, " ", (label, "bold"), " ")
        if bar:
            drawn = ProgressBar(total=total, completed=completed, width=bar, animation_time=task.get_time())
            for segment in console.render(drawn, console.options.update_width(bar)):
                line.append(segment.text, segment.style)
            line.append(" ")
        line.append(" · ".join(parts.values()))
        line.no_wrap, line.overflow = True, "crop"  # past every shortening (a very narrow terminal)
        line.truncate(width)
        return line

    def _elapsed(self) -> float:
        """Since the command began (`since`), not since the bar appeared; frozen once finished."""
        task = self._task
        now = task.get_time()
        if task.finished and task.start_time is not None and task.finished_time is not None:
            now = task.start_time + task.finished_time
        return now - float(task.fields.get("since", task.start_time or now))


def _length(label: str, bar: int, parts: dict[str, str]) -> int:
    """The fitted line's width: spinner and space, label, bar and space, the numbers."""
    return 2 + len(label) + 1 + (bar + 1 if bar else 0) + len(" · ".join(parts.values()))


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    minutes, whole = divmod(max(0, int(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{whole:02d}"


def _shorten(text: str, length: int) -> str:
    return text if len(text) <= length else text[: max(0, length - 1)] + "…"


def describe_source(source: SourceConfig) -> tuple[str, str]:
    """Where a source reads from, and what kind of sync it is, for tables."""
    return source.describe()


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


def render_result(
    console: Console, result: RunResult, *, unfinished_pass: str = "the next run resumes from the checkpoint"
) -> None:
    """The run summary. `unfinished_pass` says what happens to a pass this run did not finish: the demo,
    which cannot resume, says so instead."""
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
    failed = f", {len(result.dead_letters):,} failed" if result.dead_letters else ""  # users' word for them
    console.print(
        f"  {result.total_synced:,} records: {counts.created:,} {verb}created, "
        f"{counts.updated:,} {verb}updated, {counts.unchanged:,} unchanged{filtered}{failed}",
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
        console.print(f"  pass not complete: {unfinished_pass}", highlight=False)
    if result.error:  # first: a warning about recording the run's end must not bury why it failed
        console.print(f"  [red]error:[/] {escape(result.error)}", highlight=False)
    for warning in result.warnings:
        console.print(f"  [yellow]warning:[/] {escape(warning)}", highlight=False)
    for letter in result.dead_letters[:_DEAD_LETTERS_SHOWN]:
        console.print(f"  [red]failed[/] {escape(str(letter.key))}: {escape(letter.error)}", highlight=False)
    hidden = len(result.dead_letters) - _DEAD_LETTERS_SHOWN
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
        ("records in error", f"{figures.dead_letters:,}"),
        ("last sync (UTC)", last),
    ):
        table.add_row(label, escape(value))
    console.print(f"[bold]{escape(figures.pipeline)}[/]")
    console.print(table)
