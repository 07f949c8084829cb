"""`batchsync demo` tells a new user the truth: it announces the sample items it prepares before the progress
bar starts, suggests itself again with the options given (and the rerun does find every item unchanged),
writes a relative `--database` where it runs, and after Ctrl+C says that the next demo starts over rather
than resumes, which is what the next demo then does."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from batchsync.cli import app

runner = CliRunner(env={"COLUMNS": "250"})


def demo(*args: str) -> Any:
    return runner.invoke(app, ["demo", *args], catch_exceptions=False)


def start_demo(*args: str) -> subprocess.Popen[str]:
    """The demo in a process of its own, as a user's terminal runs it, so that signals reach it."""
    return subprocess.Popen(
        [sys.executable, "-m", "batchsync", "demo", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "250"},
    )


def wait_for_products(database: Path, timeout_seconds: float = 120.0) -> None:
    """Return as soon as the demo has committed its first batch into `database`."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if database.exists():
            try:
                with sqlite3.connect(database, timeout=5) as connection:
                    if connection.execute("select count(*) from products").fetchone()[0] > 0:
                        return
            except sqlite3.OperationalError:  # the table is not created yet
                pass
        time.sleep(0.01)
    raise AssertionError(f"the demo wrote nothing into {database} in {timeout_seconds}s")


def test_demo_announces_the_sample_items_it_prepares_before_the_progress_bar(tmp_path: Path) -> None:
    result = demo("--items", "1200", "--database", str(tmp_path / "demo.db"))

    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("preparing 1,200 sample items…\n"), result.stderr
    assert "1,200/1,200 records" in result.stderr  # the bar comes after it


def test_demo_in_json_mode_prints_only_the_json(tmp_path: Path) -> None:
    result = demo("--items", "300", "--database", str(tmp_path / "demo.db"), "--json")

    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["created"] == 300
    assert result.stderr == ""


def test_demo_suggests_itself_again_with_the_options_given_and_the_rerun_finds_every_item_unchanged(
    tmp_path: Path,
) -> None:
    database = tmp_path / "demo.db"

    first = demo("--items", "700", "--database", str(database))
    again = demo("--items", "700", "--database", str(database), "--json")

    assert first.exit_code == 0, first.output
    assert f"batchsync demo --database {database} --items 700" in first.stdout
    assert "run it again: every item is unchanged" in first.stdout
    assert f"sqlite3 {database} 'select * from products limit 5'" in first.stdout
    counts = orjson.loads(again.stdout)
    assert (counts["created"], counts["updated"], counts["unchanged"]) == (0, 0, 700)


def test_demo_with_default_options_suggests_plain_batchsync_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = demo()

    assert result.exit_code == 0, result.output
    assert re.search(
        r"^  batchsync demo +run it again: every item is unchanged$", result.stdout, re.MULTILINE
    )
    assert (tmp_path / "batchsync-demo.db").exists()


def test_demo_quotes_a_database_path_with_spaces_in_its_suggestions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = demo("--items", "50", "--database", "my demo.db")

    assert result.exit_code == 0, result.output
    assert (tmp_path / "my demo.db").exists()
    assert "batchsync demo --database 'my demo.db' --items 50" in result.stdout
    assert "sqlite3 'my demo.db' 'select * from products limit 5'" in result.stdout


def test_demo_writes_a_relative_database_in_the_directory_it_runs_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)

    result = demo("--items", "50", "--database", "rel.db")

    assert result.exit_code == 0, result.output
    assert (here / "rel.db").exists()


def test_interrupted_demo_says_the_next_one_starts_over_and_the_next_one_does(tmp_path: Path) -> None:
    database, items = tmp_path / "demo.db", 40_000
    process = start_demo("--items", str(items), "--database", str(database))
    try:
        wait_for_products(database)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()

    assert process.returncode == 130, stdout + stderr
    assert "products: cancelled" in stdout
    assert "pass not complete: the next demo starts over from the first page (it cannot resume)" in stdout
    assert "resumes" not in stdout
    assert "every item is unchanged" not in stdout
    found = re.search(
        r"run it again: it starts over; the ([\d,]+) items synced so far count as unchanged", stdout
    )
    assert found, stdout
    synced = int(found.group(1).replace(",", ""))
    assert 0 < synced < items

    rerun = demo("--items", str(items), "--database", str(database), "--json")

    counts = orjson.loads(rerun.stdout)
    assert (counts["created"], counts["updated"], counts["unchanged"]) == (items - synced, 0, synced)
    assert counts["status"] == "succeeded"


def test_demo_interrupted_while_preparing_exits_130_and_writes_nothing(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    process = start_demo("--items", "5000000", "--database", str(database))  # a minute or more to prepare
    try:
        assert process.stderr is not None
        first_line = process.stderr.readline()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()

    assert first_line == "preparing 5,000,000 sample items…\n"
    assert process.returncode == 130, stdout + stderr
    assert "stopped before syncing: nothing was written" in stderr
    assert "Traceback" not in stderr
    assert not database.exists()
