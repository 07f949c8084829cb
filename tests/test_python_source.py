"""A Python function as a source: syncs like any other, and resumes from its checkpoint, on SQLite and
PostgreSQL alike."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import batchsync
import pysource_fixture
from batchsync.engine import Progress
from batchsync.models import RunStatus
from syncsupport import fetch_all


def config(database_url: str, function: str, **options: Any) -> dict[str, Any]:
    return {
        "database": database_url,
        "pipelines": {
            "squares": {
                "source": {
                    "type": "python",
                    "function": f"pysource_fixture:{function}",
                    "options": options,
                    "page_size": 100,
                },
                "destination": {
                    "table": "squares",
                    "primary_key": "n",
                    "columns": {
                        "n": {"path": "n", "type": "integer"},
                        "square": {"path": "square", "type": "integer"},
                    },
                },
                "db_batch_size": 100,
            }
        },
    }


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
