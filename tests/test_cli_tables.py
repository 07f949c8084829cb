"""What the CLI prints about runs, status and dead letters: counted and pointed to, totals beside
limits, "no runs yet" on a fresh database, a targeted sync's time and a fan-out's entities in `status`,
and tables that read well at 80 columns (nothing wider, no time or status word broken in two)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from batchsync.cli import app
from batchsync.cli_tables import compact_time
from fakeapi import Inventory, SampleApi
from syncsupport import config_document, pipeline_config, write_config
from test_fanout import fanout_config, make_tables

wide = CliRunner(env={"COLUMNS": "200"})
narrow = CliRunner(env={"COLUMNS": "80"})

TIME = re.compile(r"\d{2}-\d{2} \d{2}:\d{2}|\d{4}-\d{2}-\d{2}|never")
STATUSES = {"succeeded", "partial", "failed", "cancelled", "running"}


def invoke(runner: CliRunner, *args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def poison_everything(api: SampleApi) -> None:
    api.settings.poison = {item["item_id"]: "bad_integer" for item in api.inventory.items()}


def items_config(tmp_path: Path, api: SampleApi, **pipelines: dict[str, Any]) -> Path:
    items = pipeline_config(api.url, item_path="/inventory/v1/items/{id}", item_record_path="item")
    document = config_document(tmp_path / "sync.db", {"items": items, **pipelines})
    return write_config(tmp_path / "batchsync.yaml", document)


def test_a_run_whose_records_all_failed_counts_them_and_points_to_the_rest(
    tmp_path: Path, api: SampleApi
) -> None:
    config_file = items_config(tmp_path, api)
    poison_everything(api)

    dry = invoke(wide, "run", "items", "-c", str(config_file), "--dry-run")
    result = invoke(wide, "run", "items", "-c", str(config_file))

    assert result.exit_code == 1, result.output
    assert "0 records: 0 created, 0 updated, 0 unchanged, 1,000 failed" in result.stdout
    assert result.stdout.count("  failed ") == 20
    assert "  … and 980 more (batchsync errors items)" in result.stdout
    assert "0 would be created, 0 would be updated, 0 unchanged, 1,000 failed" in dry.stdout
    assert "  … and 980 more\n" in dry.stdout, "a dry run stores no dead letters to point to"


def test_a_run_without_dead_letters_prints_no_failed_count(tmp_path: Path, api: SampleApi) -> None:
    result = invoke(wide, "run", "items", "-c", str(items_config(tmp_path, api)))

    assert "1,000 records: 1,000 created, 0 updated, 0 unchanged\n" in result.stdout
    assert "failed" not in result.stdout and "more (batchsync errors" not in result.stdout


def test_errors_with_a_limit_says_how_many_of_how_many(tmp_path: Path) -> None:
    with SampleApi(Inventory(size=3_000)) as api:
        config_file = items_config(tmp_path, api)
        poison_everything(api)
        invoke(wide, "run", "items", "-c", str(config_file))

        limited = invoke(wide, "errors", "items", "-c", str(config_file), "--limit", "3")
        everything = invoke(wide, "errors", "items", "-c", str(config_file), "--limit", "5000")

    assert limited.stdout.rstrip().endswith(
        "3 of 3,000 dead letters; `batchsync retry-failed items` processes them again"
    ), limited.stdout
    assert everything.stdout.rstrip().endswith(
        "3,000 dead letters; `batchsync retry-failed items` processes them again"
    )


def test_runs_on_a_fresh_database_says_no_runs_yet(tmp_path: Path, api: SampleApi) -> None:
    config_file = items_config(tmp_path, api)

    fresh = invoke(wide, "runs", "-c", str(config_file))
    one = invoke(wide, "runs", "items", "-c", str(config_file))

    assert fresh.exit_code == 0 and fresh.stdout == "no runs yet\n"
    assert one.stdout == "no runs yet\n"


def test_status_after_only_a_targeted_sync_shows_when_it_synced(tmp_path: Path, api: SampleApi) -> None:
    config_file = items_config(tmp_path, api)
    ids = [item["item_id"] for item in api.inventory.items()[:3]]
    targeted = invoke(wide, "run", "items", "-c", str(config_file), "--only", ",".join(ids))

    status = orjson.loads(invoke(wide, "status", "items", "-c", str(config_file), "--json").stdout)[0]
    table = invoke(wide, "status", "items", "-c", str(config_file)).stdout
    (run,) = orjson.loads(invoke(wide, "runs", "items", "-c", str(config_file), "--json").stdout)

    assert targeted.exit_code == 0, targeted.output
    assert status["table_rows"] == 3 and status["last_synced_at"] == run["finished_at"]
    assert "never" not in table and compact_time(run["finished_at"]) in table


def test_status_after_a_pass_then_a_targeted_sync_shows_the_targeted_one(
    tmp_path: Path, api: SampleApi
) -> None:
    config_file = items_config(tmp_path, api)
    invoke(wide, "run", "items", "-c", str(config_file))
    after_pass = orjson.loads(invoke(wide, "status", "items", "-c", str(config_file), "--json").stdout)[0]
    invoke(wide, "run", "items", "-c", str(config_file), "--only", api.inventory.items()[0]["item_id"])

    status = orjson.loads(invoke(wide, "status", "items", "-c", str(config_file), "--json").stdout)[0]
    targeted = orjson.loads(invoke(wide, "runs", "items", "-c", str(config_file), "--json").stdout)[0]

    assert after_pass["last_synced_at"] < targeted["started_at"]
    assert status["last_synced_at"] == targeted["finished_at"]


def test_status_of_a_fanout_says_its_pass_counts_entities(tmp_path: Path, api: SampleApi) -> None:
    database_url = f"sqlite:///{tmp_path / 'sync.db'}"
    make_tables(database_url, api)
    config_file = write_config(tmp_path / "c.yaml", fanout_config(database_url, api))
    invoke(wide, "run", "bank_sync", "-c", str(config_file))

    status = orjson.loads(invoke(wide, "status", "bank_sync", "-c", str(config_file), "--json").stdout)[0]
    table = invoke(wide, "status", "bank_sync", "-c", str(config_file)).stdout

    assert (status["pass_records"], status["pass_unit"]) == (56, "entities")
    assert "56 entities" in table


def cells_under(output: str, header: str) -> list[str]:
    """The cells of the column headed `header` in every row line of the tables in `output`."""
    cells: list[str] = []
    index = None
    for line in output.splitlines():
        parts = [part.strip() for part in re.split(r"[│┃]", line)]
        if header in parts:
            index = parts.index(header)
        elif index is not None and line.startswith("│") and len(parts) > index:
            cells.append(parts[index])
    return cells


@pytest.fixture
def busy_history(tmp_path: Path, api: SampleApi) -> Path:
    """A database with succeeded, partial and failed runs, a long error, dead letters and a fan-out."""
    broken = pipeline_config(api.url, path="/no/such/collection/anywhere/at/all")
    broken["destination"]["table"] = "broken_items"
    config_file = items_config(tmp_path, api, broken_items=broken)
    invoke(wide, "run", "items", "-c", str(config_file))
    api.settings.poison = {item["item_id"]: "bad_integer" for item in api.inventory.items()[:30]}
    invoke(wide, "run", "items", "-c", str(config_file), "--full-refresh")
    invoke(wide, "run", "broken_items", "-c", str(config_file))
    invoke(wide, "run", "items", "-c", str(config_file), "--batch-size", "100", "--trigger", "scheduled")
    return config_file


@pytest.mark.parametrize(
    ("command", "time_header"),
    [
        (("runs",), "started (UTC)"),
        (("status",), "last sync (UTC)"),
        (("errors", "items", "--limit", "5"), "when (UTC)"),
        (("run", "items", "--dry-run"), None),
    ],
    ids=["runs", "status", "errors", "summary"],
)
def test_tables_at_80_columns_fit_and_never_break_a_time_or_a_status(
    busy_history: Path, command: tuple[str, ...], time_header: str | None
) -> None:
    result = invoke(narrow, *command, "-c", str(busy_history))

    lines = result.stdout.splitlines()
    assert lines and max(len(line) for line in lines) <= 80, result.stdout
    if time_header is not None:
        times = cells_under(result.stdout, time_header)
        assert times and all(TIME.fullmatch(cell) for cell in times if cell), result.stdout
    for header in ("status", "last run"):
        words = [cell.split(":")[0] for cell in cells_under(result.stdout, header) if cell]
        assert all(word in STATUSES for word in words), result.stdout


def test_runs_at_80_columns_keep_status_counts_and_errors(busy_history: Path) -> None:
    table = invoke(narrow, "runs", "-c", str(busy_history)).stdout

    assert [cell for cell in cells_under(table, "status") if cell] == [
        "partial",
        "failed",
        "partial",
        "succeeded",
    ]
    assert "new/upd/same" in table and "1,000/0/0" in table
    assert "404" in " ".join(cells_under(table, "error"))


def test_the_fanout_table_at_80_columns_fits_and_never_breaks_an_outcome(
    tmp_path: Path, api: SampleApi
) -> None:
    database_url = f"sqlite:///{tmp_path / 'sync.db'}"
    make_tables(database_url, api)
    config_file = write_config(tmp_path / "c.yaml", fanout_config(database_url, api))

    result = invoke(narrow, "run", "bank_sync", "-c", str(config_file), "--dry-run")

    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, result.stdout
    outcomes = [cell for cell in cells_under(result.stdout, "status") if cell]
    assert len(outcomes) == 56 and set(outcomes) == {"would sync", "skipped"}, result.stdout
    assert "no eligible providers: auto-sync is off" in " ".join(cells_under(result.stdout, "reason / error"))
