"""The live progress line: at 80 columns it keeps every number (done/total with thousands separators,
rate, ETA) and gives up the bar's width first; it is not drawn for a run that never started; a lookup
knows its total from the start; and the Ctrl+C notice starts a line of its own on a real terminal."""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import batchsync
from batchsync.cli import app
from batchsync.engine import Progress
from fakeapi import ApiKeyAuth, Inventory, KeyService, SampleApi
from syncsupport import config_document, pipeline_config, write_config
from terminal import Terminal, screen

narrow = CliRunner(env={"COLUMNS": "80"})
BAR = "━"


def invoke(*args: str) -> Any:
    return narrow.invoke(app, list(args), catch_exceptions=False)


def bar_line(output: str) -> str:
    """The progress line: its figures are parted by " · " (at 80 columns a fast run's numbers may take
    the whole width, leaving no bar at all, and a fan-out's table below has the bar's glyph in its frame)."""
    return next(line for line in output.splitlines() if " · " in line)


@pytest.mark.parametrize("name", ["items", "a_pipeline_with_a_name_too_long_to_fit_beside_the_numbers"])
def test_at_80_columns_the_progress_line_keeps_every_number_and_shrinks_the_bar(
    tmp_path: Path, name: str
) -> None:
    with SampleApi(Inventory(size=12_345)) as api:
        pipeline = pipeline_config(api.url, "page_number_total_pages")
        config_file = write_config(
            tmp_path / "c.yaml", config_document(tmp_path / "sync.db", {name: pipeline})
        )

        result = invoke("run", name, "-c", str(config_file))

    line = bar_line(result.output)
    assert result.exit_code == 0, result.output
    assert "12,345/12,345 records" in line and " rec/s" in line and "ETA 0:00:00" in line, line
    assert all(len(text) <= 80 for text in result.output.splitlines()), result.output


def test_a_fanout_shows_entities_done_out_of_all_and_their_records(tmp_path: Path, api: SampleApi) -> None:
    from test_fanout import fanout_config, make_tables

    database_url = f"sqlite:///{tmp_path / 'sync.db'}"
    make_tables(database_url, api)
    config_file = write_config(tmp_path / "c.yaml", fanout_config(database_url, api))

    result = invoke("run", "bank_sync", "-c", str(config_file))

    line = bar_line(result.output)
    created = batchsync.history("bank_sync", str(config_file))[0]["created"]
    assert result.exit_code == 1 and created > 1_000, "partial: the revoked accounts fail"
    assert "56/56 entities" in line and f"{created:,} records" in line, line


def run_that_cannot_start(tmp_path: Path, api: SampleApi, cause: str) -> list[str]:
    database = tmp_path / "sync.db"
    pipeline = pipeline_config(api.url)
    extra: list[str] = []
    if cause == "config":
        extra = ["--filter", "status=active"]  # --filter is for lookups: refused before the run begins
    elif cause == "import":
        pipeline["source"] = {"type": "python", "function": "pysource_fixture:no_such_function"}
    config_file = write_config(tmp_path / "c.yaml", config_document(database, {"items": pipeline}))
    if cause == "lease":
        assert invoke("run", "items", "-c", str(config_file)).exit_code == 0
        with sqlite3.connect(database) as connection:  # a run that is still going on another machine
            connection.execute(
                "INSERT INTO batchsync_leases (pipeline, run_id, host, pid, started_at, heartbeat_at)"
                " VALUES ('items', 'run-on-host-b', 'host-b', 4242, ?, ?)",
                (time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),) * 2,
            )
    return ["run", "items", "-c", str(config_file), *extra]


@pytest.mark.parametrize("cause", ["config", "import", "lease"])
def test_no_bar_is_drawn_for_a_run_that_cannot_start(tmp_path: Path, api: SampleApi, cause: str) -> None:
    result = invoke(*run_that_cannot_start(tmp_path, api, cause))

    assert result.exit_code == 2 and "error:" in result.output, result.output
    assert BAR not in result.output and "records" not in result.output, result.output


def test_a_lookup_knows_how_many_keys_it_refreshes_from_its_first_report(tmp_path: Path) -> None:
    from test_lookup import API_KEY, lookup_config, make_keys_table

    with SampleApi(keys=KeyService(size=1_500, seed=4)) as key_api:
        key_api.settings.auth = ApiKeyAuth("apikey", API_KEY, "query")
        database_url = f"sqlite:///{tmp_path / 'sync.db'}"
        make_keys_table(database_url, key_api)
        reports: list[Progress] = []

        result = batchsync.run(
            "key_refresh",
            lookup_config(database_url, key_api),
            filters=["prd~Pro"],  # the count uses the same filter as the refresh, with the config's where
            on_progress=reports.append,
        )

    assert result.total_synced > 100, "several batches of 50"
    assert [report.expected_total for report in reports] == [result.total_synced] * len(reports)


@pytest.mark.parametrize("width", [80, 160])  # at 160 the bar line ends short of the right margin
def test_the_ctrl_c_notice_starts_a_line_of_its_own_below_the_bar(tmp_path: Path, width: int) -> None:
    with SampleApi(Inventory(size=1_000)) as api:
        pipeline = pipeline_config(api.url)
        pipeline["source"]["paginator"]["page_size"] = 50
        api.settings.latency_seconds = 0.05
        config_file = write_config(
            tmp_path / "c.yaml", config_document(tmp_path / "sync.db", {"items": pipeline})
        )
        command = [sys.executable, "-m", "batchsync", "run", "items", "-c", str(config_file)]
        terminal = Terminal(command, width=width)
        deadline = time.monotonic() + 30
        while len(api.requests) < 4 or BAR not in terminal.output:  # the bar is drawn, the run under way
            assert terminal.process.poll() is None and time.monotonic() < deadline, terminal.output
            time.sleep(0.01)

        terminal.press_ctrl_c()
        code = terminal.wait(timeout=60)

    lines = screen(terminal.output, terminal.width)
    notice = [line for line in lines if "stopping after the current batch" in line]
    assert code == 130
    assert notice and notice[0].startswith("stopping after the current batch"), lines
