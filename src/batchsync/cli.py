"""Typer commands: parse the flags, call `operations`, render with Rich, and exit with a meaningful code.

Exit codes: 0 success; 1 some records or batches failed; 2 nothing processed, or a configuration or usage
error; 130 interrupted (the checkpoint is saved). A reader that closes stdout early (`| head`) changes
none of that: the command goes on to its end and says so on stderr (cli_output.py).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from batchsync import __version__, logs, operations
from batchsync.cli_help import HELP_OPTION_NAMES, Command, Group
from batchsync.cli_output import PipeSafeConsole, PipeSafeStreamHandler, flush_standard_streams, write_stdout
from batchsync.cli_render import (
    ProgressDisplay,
    describe_source,
    render_dead_letters,
    render_result,
    render_runs,
    render_stats,
    render_status,
)
from batchsync.config import load_config
from batchsync.config.loading import find_config_file
from batchsync.config.pipeline import MAX_CONCURRENCY
from batchsync.engine.options import parse_cli_params
from batchsync.errors import BatchsyncError, ConfigError
from batchsync.models import RunResult, RunStatus, Trigger
from batchsync.state.cancels import CancelOutcome

EXIT_OK, EXIT_FAILED, EXIT_NOTHING_DONE, EXIT_INTERRUPTED = 0, 1, 2, 130

app = typer.Typer(
    name="batchsync",
    help="Keep a local SQL database in step with remote HTTP APIs: in batches, resumably, exactly once.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=Group,
    context_settings={"help_option_names": HELP_OPTION_NAMES},
)


def _stdout() -> Console:
    """Made per command, so the terminal width is read when the command runs."""
    return PipeSafeConsole(emoji=False)


def _stderr() -> Console:
    return PipeSafeConsole(stderr=True, emoji=False)


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default: $BATCHSYNC_CONFIG or ./batchsync.yaml)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
JsonArrayOption = Annotated[bool, typer.Option("--json", help="Print a JSON array instead of tables.")]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Log every request; show tracebacks.")]


def _print_version(wanted: bool) -> None:
    if wanted:
        _stdout().print(f"batchsync {__version__}", highlight=False)
        raise typer.Exit(EXIT_OK)


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit."),
    ] = False,
) -> None:
    """Options of `batchsync` itself, before the command."""


def exit_code_for(result: RunResult) -> int:
    if result.status is RunStatus.SUCCEEDED:
        return EXIT_OK
    if result.status is RunStatus.CANCELLED:
        return EXIT_INTERRUPTED
    if result.status is RunStatus.FAILED and result.total_synced == 0:
        return EXIT_NOTHING_DONE
    return EXIT_FAILED


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


def _configure_logging(verbose: bool, quiet: bool, log_format: LogFormat = LogFormat.TEXT) -> None:
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    handler: logging.Handler
    if log_format is LogFormat.JSON:
        handler = PipeSafeStreamHandler(sys.stderr)
        level = logging.DEBUG if verbose else logging.INFO  # machines want the run's story, not silence
    else:
        handler = RichHandler(console=_stderr(), show_path=False, rich_tracebacks=verbose, markup=False)
    logs.configure(handler, level, json_lines=log_format is LogFormat.JSON)


@contextmanager
def _user_errors(verbose: bool) -> Iterator[None]:
    """One readable message and exit code 2 for anything that stops a command before it can work."""
    try:
        yield
    except BatchsyncError as exc:
        if verbose:
            _stderr().print_exception()
        _stderr().print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        for problem in getattr(exc, "problems", []):
            _stderr().print(f"  - {escape(problem)}", highlight=False)
        raise typer.Exit(EXIT_NOTHING_DONE) from None


@contextmanager
def _stop_on_signals(stop: threading.Event, quiet: bool, display: ProgressDisplay) -> Iterator[None]:
    """First Ctrl+C or SIGTERM: finish the current batch and stop. Second Ctrl+C: abort the batch now
    (its transaction rolls back; the checkpoint still points at the last committed batch). The notice
    goes through the progress display, so it starts a line of its own rather than trailing the bar."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()
        if not quiet:
            display.say("[yellow]stopping after the current batch (Ctrl+C again to abort it)…[/]")

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@app.command(cls=Command)
def run(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Pipeline name from the config.")],
    config: ConfigOption = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Records per API request (page size).")
    ] = None,
    db_batch_size: Annotated[int | None, typer.Option(min=1, help="Rows per database transaction.")] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=MAX_CONCURRENCY, help="Requests in flight at once (pages, lookup batches)."),
    ] = None,
    full_refresh: Annotated[
        bool, typer.Option(help="Ignore the watermark; walk the whole collection.")
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="Fetch and report what would change; write nothing.")] = False,
    verbose: VerboseOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors and the summary.")] = False,
    json_output: JsonOption = False,
    trigger: Annotated[Trigger, typer.Option(help="Recorded in the run history.")] = Trigger.MANUAL,
    only: Annotated[
        str | None,
        typer.Option(
            "--only",
            metavar="ID,ID",
            help="Fan-out: just these entities; rest with item_path: just these records.",
        ),
    ] = None,
    filters: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            metavar="COLUMN=VALUE",
            help="Lookups: only keys whose row matches, e.g. status=active or prd~Office (repeatable).",
        ),
    ] = None,
    log_format: Annotated[
        LogFormat, typer.Option(help="text, or json: one JSON object per line (with the run id) on stderr.")
    ] = LogFormat.TEXT,
    params: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            metavar="NAME=VALUE",
            help="One query parameter for this run (repeatable), e.g. filter_by=Status.Active.",
        ),
    ] = None,
) -> None:
    """Sync one pipeline: page through the API and upsert every record, resuming where it stopped."""
    _configure_logging(verbose, quiet or json_output, log_format)
    stop = threading.Event()
    with _user_errors(verbose):
        resolved = operations.resolve_config(config, [name])
        # No live bar with JSON logs: its frames would land in the JSON stream.
        show_bar = not (quiet or json_output or log_format is LogFormat.JSON)
        display = ProgressDisplay(_stderr(), name, enabled=show_bar)
        with display, _stop_on_signals(stop, quiet or json_output, display):
            result = operations.run(
                name,
                resolved,
                trigger=trigger,
                full_refresh=full_refresh,
                dry_run=dry_run,
                batch_size=batch_size,
                db_batch_size=db_batch_size,
                concurrency=concurrency,
                filters=filters or [],
                only=[item for item in (only or "").split(",") if item.strip()],
                params=parse_cli_params(params or []),
                stop=stop,
                on_progress=display.update,
            )
    if json_output:
        write_stdout(orjson.dumps(result.to_dict()).decode() + "\n")
    else:
        render_result(_stdout(), result)
    raise typer.Exit(exit_code_for(result))


@app.command(cls=Command)
def status(
    name: Annotated[str | None, typer.Argument(metavar="NAME", help="One pipeline (default: all).")] = None,
    config: ConfigOption = None,
    json_output: JsonArrayOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Show each pipeline's position, records synced, last sync time, completeness and table rows."""
    _configure_logging(verbose, quiet=True)
    with _user_errors(verbose):
        statuses = operations.status(name, config)
    if json_output:
        write_stdout(orjson.dumps([s.to_dict() for s in statuses]).decode() + "\n")
    else:
        render_status(_stdout(), statuses)


@app.command(cls=Command)
def reset(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Pipeline whose checkpoint to clear.")],
    config: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Clear a pipeline's checkpoint and watermark, and its units' (a fan-out's child syncs, a
    partitioned pull's ranges, a lookup's shards): the next run starts from the beginning. Rows stay."""
    _configure_logging(verbose, quiet=True)
    with _user_errors(verbose):
        had_checkpoint = operations.reset(name, config)
    if had_checkpoint:
        _stdout().print(f"{name}: checkpoint cleared; the next run starts from the beginning.")
    else:
        _stdout().print(f"{name}: no checkpoint to clear; the next run starts from the beginning.")


@app.command(cls=Command)
def cancel(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run to stop (see `batchsync runs`).")],
    config: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Stop a running run, in this process's terminal or any other: it stops at its next batch boundary
    with its checkpoint saved, status cancelled. Exit 2 when no such run is running."""
    _configure_logging(verbose, quiet=True)
    with _user_errors(verbose):
        answer = operations.cancel(run_id, config)
    if answer.outcome is CancelOutcome.REQUESTED:
        _stdout().print(f"run {escape(run_id)}: cancel requested; it stops at its next batch boundary.")
        return
    if answer.outcome is CancelOutcome.NOT_RUNNING:
        _stderr().print(f"run {escape(run_id)} has ended ({answer.status}); nothing to cancel.")
    else:
        _stderr().print(f"no run {escape(run_id)} in this database (see `batchsync runs`).")
    raise typer.Exit(EXIT_NOTHING_DONE)


@app.command(cls=Command)
def runs(
    name: Annotated[str | None, typer.Argument(metavar="NAME", help="One pipeline (default: all).")] = None,
    config: ConfigOption = None,
    limit: Annotated[int, typer.Option(min=1, help="How many runs to show.")] = 20,
    json_output: JsonArrayOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Show the run history, newest first."""
    _configure_logging(verbose, quiet=True)
    with _user_errors(verbose):
        history = operations.history(name, config, limit)
    if json_output:
        write_stdout(orjson.dumps(history).decode() + "\n")
    else:
        render_runs(_stdout(), history)


@app.command(cls=Command)
def stats(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Pipeline whose table to describe.")],
    config: ConfigOption = None,
    stale_after: Annotated[str, typer.Option(help="A row no sync has seen for this long is stale.")] = "24h",
    json_output: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Rows in the table, rows the last run saw, stale rows, deleted rows, rows in error, last sync."""
    _configure_logging(verbose, quiet=True)
    with _user_errors(verbose):
        figures = operations.stats(name, config, stale_after=operations.parse_duration(stale_after))
    if json_output:
        write_stdout(orjson.dumps(figures.to_dict()).decode() + "\n")
    else:
        render_stats(_stdout(), figures, stale_after)


@app.command(cls=Command)
def errors(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Pipeline whose dead letters to list.")],
    config: ConfigOption = None,
    limit: Annotated[int, typer.Option(min=1, help="How many to show, newest first.")] = 100,
    json_output: JsonArrayOption = False,
    verbose: VerboseOption = False,
) -> None:
    """List the records that could not be synced (dead letters), with the reason for each."""
    _configure_logging(verbose, quiet=True)
    with _user_errors(verbose):
        letters = operations.dead_letters(name, config, limit)
        total = len(letters) if json_output else operations.count_dead_letters(name, config)
    if json_output:
        write_stdout(orjson.dumps(letters).decode() + "\n")
    else:
        render_dead_letters(_stdout(), name, letters, total)


@app.command("retry-failed", cls=Command)
def retry_failed(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="Pipeline whose dead letters to process again.")
    ],
    config: ConfigOption = None,
    verbose: VerboseOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors and the summary.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Process the dead letters again: a full pass over the source that removes each entry whose record
    now syncs (after the source or the config was fixed). Entries that still fail stay, with the new
    reason."""
    _configure_logging(verbose, quiet or json_output)
    stop = threading.Event()
    with _user_errors(verbose):
        resolved = operations.resolve_config(config, [name])
        display = ProgressDisplay(_stderr(), name, enabled=not (quiet or json_output))
        with display, _stop_on_signals(stop, quiet or json_output, display):
            result, remaining = operations.retry_failed(name, resolved, stop=stop, on_progress=display.update)
    if json_output:
        write_stdout(orjson.dumps({**result.to_dict(), "dead_letters_remaining": remaining}).decode() + "\n")
    else:
        render_result(_stdout(), result)
        _stdout().print(f"  {remaining} dead letter(s) remain for {name}", highlight=False)
    raise typer.Exit(exit_code_for(result))


@app.command(cls=Command)
def validate(config: ConfigOption = None, verbose: VerboseOption = False) -> None:
    """Check the config file: structure, values, and that every ${VAR} it uses is set."""
    _configure_logging(verbose, quiet=True)
    with _user_errors(verbose):
        loaded = load_config(config)
        if not loaded.pipelines:
            raise ConfigError("the config defines no pipelines (add a 'pipelines:' section)")
    table = Table("pipeline", "source", "kind", "table", show_header=True)
    for pipeline_name, pipeline in loaded.pipelines.items():
        where, kind = describe_source(pipeline.source)
        table.add_row(pipeline_name, escape(where), kind, pipeline.destination.table)
    _stdout().print(table)
    _stdout().print(f"[green]config OK[/]: {len(loaded.pipelines)} pipeline(s)")


@app.command(cls=Command)
def demo(
    database: Annotated[Path, typer.Option(help="SQLite file to sync into.")] = Path("batchsync-demo.db"),
    items: Annotated[int, typer.Option(min=1, help="Items in the sample inventory.")] = 3000,
    json_output: JsonOption = False,
) -> None:
    """Sync the built-in sample inventory API into a local SQLite file, and show what to try next."""
    from batchsync.demo import next_steps, prepare_inventory, run_demo

    _configure_logging(verbose=False, quiet=json_output)
    # A relative path is taken from the directory the command runs in (scripts/demo keeps the caller's),
    # once, so the file and every path printed below agree.
    target = database.absolute()
    try:
        if not json_output:
            _stderr().print(f"preparing {items:,} sample items…", highlight=False)
        inventory = prepare_inventory(items)  # seconds for 100,000s of items: before the bar and the run
    except KeyboardInterrupt:
        _stderr().print("stopped before syncing: nothing was written", highlight=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    stop = threading.Event()
    with _user_errors(False):
        display = ProgressDisplay(_stderr(), "demo", enabled=not json_output)
        with display, _stop_on_signals(stop, json_output, display):
            result = run_demo(target, inventory, stop=stop, on_progress=display.update)
    if json_output:
        write_stdout(orjson.dumps(result.to_dict()).decode() + "\n")
        raise typer.Exit(exit_code_for(result))
    # Every demo serves its API on a new port, so it cannot resume a pass: say what the next one does.
    render_result(
        _stdout(), result, unfinished_pass="the next demo starts over from the first page (it cannot resume)"
    )
    steps = [f"  {command:<35} {what}".rstrip() for command, what in next_steps(database, items, result)]
    _stdout().print("\n[bold]Try next[/]\n" + escape("\n".join(steps)), highlight=False)
    raise typer.Exit(exit_code_for(result))


@app.command(cls=Command)
def serve(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    max_runs: Annotated[int, typer.Option(min=1, max=64, help="Runs the service executes at once.")] = 4,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Accept requests without a token (loopback addresses only).")
    ] = False,
    access_log: Annotated[bool, typer.Option("--access-log", help="Log a line per HTTP request.")] = False,
    verbose: VerboseOption = False,
) -> None:
    """Serve the control API (and /health, /metrics) until Ctrl+C. Needs BATCHSYNC_ADMIN_TOKEN (and takes
    an optional BATCHSYNC_READ_TOKEN for GET routes), or --no-auth on a loopback address."""
    from batchsync.service.server import serve as serve_forever
    from batchsync.service.server import tokens_for

    _configure_logging(verbose, quiet=False)
    with _user_errors(verbose):
        tokens = tokens_for(host, no_auth=no_auth, environ=os.environ)
        config_file = find_config_file(config)
        resolved = load_config(config_file)
        _stderr().print(
            f"batchsync serve: http://{host}:{port} ({len(resolved.pipelines)} pipelines; "
            f"{'token auth' if tokens.is_enabled else 'no auth, loopback only'}); Ctrl+C to stop"
        )
        serve_forever(
            resolved,
            config_file,
            host=host,
            port=port,
            max_runs=max_runs,
            tokens=tokens,
            access_log=access_log,
        )


@app.command(cls=Command)
def worker(
    config: ConfigOption = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=256, help="Units run at once (default: one per CPU).")
    ] = None,
    queues: Annotated[
        str | None, typer.Option(help="Comma-separated queues to serve (default: execution.queue).")
    ] = None,
    pool: Annotated[str | None, typer.Option(help="Celery pool: prefork (default), threads or solo.")] = None,
    verbose: VerboseOption = False,
) -> None:
    """Run a Celery worker for the units of distributed runs (`execution: {backend: celery, broker: …}`)
    until Ctrl+C. It reads its own config and secrets; the broker carries only names and ids."""
    from batchsync.distributed.worker import start_worker

    # One plain line per event, with its time and process: a worker's log is read from a file or journald.
    handler = logging.StreamHandler(sys.stderr)
    logs.configure(handler, logging.DEBUG if verbose else logging.INFO, json_lines=False)
    handler.setFormatter(logging.Formatter("[%(asctime)s %(levelname)s/%(processName)s] %(message)s"))
    with _user_errors(verbose):
        chosen = [queue.strip() for queue in (queues or "").split(",") if queue.strip()]
        start_worker(
            config, concurrency=concurrency, queues=chosen, loglevel="DEBUG" if verbose else "INFO", pool=pool
        )


@app.command("sample-api", cls=Command)
def sample_api(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
    items: Annotated[int, typer.Option(min=1, help="Items in the sample inventory.")] = 3000,
) -> None:
    """Serve the built-in sample inventory API on 127.0.0.1 until Ctrl+C (for trying configs)."""
    from batchsync.sampleapi import serve

    _stdout().print(f"sample API on http://127.0.0.1:{port} ({items} items); Ctrl+C to stop")
    with contextlib.suppress(KeyboardInterrupt):
        serve(port=port, size=items)


def main() -> None:
    try:
        app()
    finally:
        flush_standard_streams()
