"""A Python function as a source: syncs like any other, and resumes from its checkpoint, on SQLite and
PostgreSQL alike."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import batchsync
import pysource_fixture
from batchsync.engine import Progress
from batchsync.models import RunStatus
from pysource_fixture import squares_config as config
from syncsupport import fetch_all


def squares(database_url: str) -> dict[int, int]:
    return dict(fetch_all(database_url, "SELECT n, square FROM squares"))


def stop_after(batches: int, document: dict[str, Any]) -> batchsync.RunResult:
    stop = threading.Event()
    seen = []

    def count(_: Progress) -> None:
        seen.append(1)
        if len(seen) >= batches:
            stop.set()

    return batchsync.run("squares", document, stop=stop, on_progress=count)


@pytest.mark.parametrize(("function", "count"), [("numbers", 2_500), ("plain_records", 1_234)])
def test_a_python_source_syncs_everything(function: str, count: int, database_url: str) -> None:
    result = batchsync.run("squares", config(database_url, function, count=count))

    assert result.status is RunStatus.SUCCEEDED and result.counts.created == count
    assert squares(database_url) == {n: n * n for n in range(count)}


def test_a_page_yielding_source_resumes_from_its_own_cursor(database_url: str) -> None:
    document = config(database_url, "numbers", count=2_500)
    pysource_fixture.CALLS.clear()

    stopped = stop_after(7, document)
    resumed = batchsync.run("squares", document)

    assert stopped.status is RunStatus.CANCELLED and stopped.counts.created == 700
    assert pysource_fixture.CALLS == [None, 700], "the second run starts where the first committed"
    assert resumed.counts.created == 1_800
    assert squares(database_url) == {n: n * n for n in range(2_500)}


def test_a_record_yielding_source_resumes_by_skipping_what_is_committed(database_url: str) -> None:
    document = config(database_url, "plain_records", count=1_234)

    stopped = stop_after(5, document)
    resumed = batchsync.run("squares", document)

    assert stopped.counts.created == 500
    assert (resumed.counts.created, resumed.counts.unchanged) == (734, 0)
    assert squares(database_url) == {n: n * n for n in range(1_234)}


def test_an_unknown_function_is_a_config_error(database: Path) -> None:
    with pytest.raises(batchsync.ConfigError, match="cannot be imported"):
        batchsync.run("squares", config(f"sqlite:///{database}", "no_such_function"))


def test_a_module_in_the_working_directory_that_python_cannot_see_hints_pythonpath(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_local_source.py").write_text("def numbers(cursor):\n    yield {'n': 1, 'square': 1}\n")
    monkeypatch.chdir(tmp_path)
    # As under the `batchsync` command: the working directory is not on Python's path.
    monkeypatch.setattr(sys, "path", [entry for entry in sys.path if entry not in ("", ".", str(tmp_path))])
    document = config(f"sqlite:///{database}", "numbers")
    document["pipelines"]["squares"]["source"]["function"] = "my_local_source:numbers"

    with pytest.raises(batchsync.ConfigError) as raised:
        batchsync.run("squares", document)

    assert "No module named 'my_local_source'" in str(raised.value)
    assert "my_local_source is in the current directory" in str(raised.value)
    assert "run with PYTHONPATH=." in str(raised.value)


def test_a_module_found_nowhere_still_hints_pythonpath(database: Path) -> None:
    document = config(f"sqlite:///{database}", "numbers")
    document["pipelines"]["squares"]["source"]["function"] = "no_such_module_anywhere:numbers"

    with pytest.raises(batchsync.ConfigError, match=r"is it installed\? .*run with PYTHONPATH=\."):
        batchsync.run("squares", document)


def test_a_module_whose_own_import_fails_gets_no_pythonpath_hint(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_source.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    document = config(f"sqlite:///{database}", "numbers")
    document["pipelines"]["squares"]["source"]["function"] = "broken_source:numbers"

    with pytest.raises(batchsync.ConfigError) as raised:
        batchsync.run("squares", document)

    assert "no_such_dependency_xyz" in str(raised.value) and "PYTHONPATH" not in str(raised.value)
