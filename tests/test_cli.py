"""The CLI on a real database file: dry runs write nothing, errors are one readable line with exit 2,
and status / reset / runs / validate report what the database holds."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from batchsync.cli import app
from fakeapi import SampleApi
from fakeapi.faults import AlwaysFail, FailWhere
from syncsupport import config_document, pipeline_config, write_config

runner = CliRunner(env={"COLUMNS": "200"})


def snapshot(directory: Path) -> dict[str, str]:
    """Every file in the directory with a digest of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


@pytest.fixture
def config_file(tmp_path: Path, api: SampleApi, database: Path) -> Path:
    return write_config(
        tmp_path / "batchsync.yaml", config_document(database, {"items": pipeline_config(api.url)})
    )


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_run_prints_a_summary_and_exits_0(config_file: Path) -> None:
    result = invoke("run", "items", "-c", str(config_file))

    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output and "1,000 created" in result.output


def test_run_json_prints_the_run_result(config_file: Path) -> None:
    result = invoke("run", "items", "-c", str(config_file), "--json")

    summary = orjson.loads(result.stdout)
    assert result.exit_code == 0
    assert summary["status"] == "succeeded" and summary["created"] == 1_000 and summary["pages"] == 5


def test_dry_run_reports_changes_and_leaves_the_database_byte_for_byte_unchanged(
    config_file: Path, api: SampleApi, tmp_path: Path
) -> None:
    invoke("run", "items", "-c", str(config_file))
    api.inventory.update(8, rng_seed=3)
    api.inventory.add(5)
    before = snapshot(tmp_path)

    result = invoke("run", "items", "-c", str(config_file), "--dry-run", "--json")

    summary = orjson.loads(result.stdout)
    assert (summary["created"], summary["updated"], summary["unchanged"]) == (5, 8, 992)
    assert summary["dry_run"] is True
    assert snapshot(tmp_path) == before


def test_dry_run_on_a_new_database_creates_no_file(config_file: Path, database: Path) -> None:
    result = invoke("run", "items", "-c", str(config_file), "--dry-run", "--json")

    assert orjson.loads(result.stdout)["created"] == 1_000
    assert not database.exists()


def test_config_error_names_the_field_and_exits_2(tmp_path: Path, api: SampleApi, database: Path) -> None:
    pipeline = pipeline_config(api.url)
    pipeline["source"]["paginator"]["page_size"] = 0
    config_file = write_config(tmp_path / "bad.yaml", config_document(database, {"items": pipeline}))

    result = invoke("run", "items", "-c", str(config_file))

    assert result.exit_code == 2
    assert "pipelines.items.source.paginator.page_size: must be > 0" in result.output
    assert "Traceback" not in result.output
    assert not database.exists()


def test_missing_environment_variable_is_named(tmp_path: Path, api: SampleApi, database: Path) -> None:
    pipeline = pipeline_config(api.url, auth={"type": "bearer", "token": "${BATCHSYNC_TEST_UNSET_TOKEN}"})
    config_file = write_config(tmp_path / "env.yaml", config_document(database, {"items": pipeline}))

    result = invoke("run", "items", "-c", str(config_file))

    assert result.exit_code == 2
    assert (
        "BATCHSYNC_TEST_UNSET_TOKEN" in result.output and "pipelines.items.source.auth.token" in result.output
    )


def test_unknown_pipeline_and_missing_config_file_exit_2(config_file: Path, tmp_path: Path) -> None:
    unknown = invoke("run", "nope", "-c", str(config_file))
    missing = invoke("run", "items", "-c", str(tmp_path / "absent.yaml"))

    assert unknown.exit_code == 2 and "no pipeline named 'nope'" in unknown.output
    assert missing.exit_code == 2 and "config file not found" in missing.output


def test_failed_run_that_processed_nothing_exits_2(tmp_path: Path, api: SampleApi, database: Path) -> None:
    pipeline = pipeline_config(api.url, path="/no/such/collection")
    config_file = write_config(tmp_path / "c.yaml", config_document(database, {"items": pipeline}))

    result = invoke("run", "items", "-c", str(config_file))

    assert result.exit_code == 2
    assert "404" in result.output


def test_a_run_that_committed_nothing_says_so_rather_than_promising_a_resume(
    tmp_path: Path, api: SampleApi, database: Path
) -> None:
    api.settings.faults = AlwaysFail("server_error")
    pipeline = {**pipeline_config(api.url), "retry": {"max_attempts": 1}}
    config_file = write_config(tmp_path / "c.yaml", config_document(database, {"items": pipeline}))

    shown = invoke("run", "items", "-c", str(config_file))
    result = orjson.loads(invoke("run", "items", "-c", str(config_file), "--json").stdout)

    assert shown.exit_code == 2
    assert "pass not complete: nothing was committed" in shown.output
    assert "resumes from the checkpoint" not in shown.output
    assert result["committed_batches"] == 0


def test_a_run_that_failed_after_committing_batches_says_the_next_run_resumes(
    tmp_path: Path, api: SampleApi, database: Path
) -> None:
    api.settings.faults = FailWhere({"page": 3}, "server_error")
    pipeline = {**pipeline_config(api.url), "retry": {"max_attempts": 1}}
    config_file = write_config(tmp_path / "c.yaml", config_document(database, {"items": pipeline}))

    shown = invoke("run", "items", "-c", str(config_file))

    assert shown.exit_code == 1
    assert "pass not complete: the next run resumes from the checkpoint" in shown.output
    assert "nothing was committed" not in shown.output


def test_status_shows_position_records_and_rows_then_reset_starts_over(config_file: Path) -> None:
    invoke("run", "items", "-c", str(config_file), "--batch-size", "100", "--db-batch-size", "50")

    status = orjson.loads(invoke("status", "-c", str(config_file), "--json").stdout)
    table = invoke("status", "items", "-c", str(config_file)).output
    reset = invoke("reset", "items", "-c", str(config_file))
    after = orjson.loads(invoke("status", "items", "-c", str(config_file), "--json").stdout)

    assert status[0]["state"] == "complete" and status[0]["pass_records"] == 1_000
    assert status[0]["table_rows"] == 1_000 and status[0]["last_run"]["status"] == "succeeded"
    assert "complete" in table and "1,000" in table
    assert reset.exit_code == 0 and "checkpoint cleared" in reset.output
    assert after[0]["state"] == "not started" and after[0]["table_rows"] == 1_000


def test_runs_lists_history_newest_first(config_file: Path) -> None:
    # --concurrency 1: no page fetched past the end, so the API calls are the pages and the re-read below
    invoke("run", "items", "-c", str(config_file), "--concurrency", "1")
    invoke("run", "items", "-c", str(config_file), "--trigger", "scheduled", "--concurrency", "1")

    history = orjson.loads(invoke("runs", "items", "-c", str(config_file), "--json").stdout)
    table = invoke("runs", "-c", str(config_file), "--limit", "1").output

    assert [run["trigger"] for run in history] == ["scheduled", "manual"]
    assert history[0]["unchanged"] == 1_000 and history[1]["created"] == 1_000
    # 5 pages, plus one re-read of page 1 that checks whether the collection drifted during the pass
    assert all(run["api_calls"] == 6 and run["duration_seconds"] > 0 for run in history)
    assert "scheduled" in table and "manual" not in table


def test_validate_accepts_a_good_config_and_lists_every_problem_of_a_bad_one(
    config_file: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "pipelines:\n  p:\n    source: {type: rest, base_url: ftp://x, paginator: {type: weird}}\n"
        "    destination: {table: t, primary_key: id, columns: {}}\n"
    )

    good = invoke("validate", "-c", str(config_file))
    broken = invoke("validate", "-c", str(bad))

    assert good.exit_code == 0 and "config OK" in good.output
    assert broken.exit_code == 2
    assert "pipelines.p.source.base_url: must start with http:// or https://" in broken.output
    assert "pipelines.p.source.paginator: unknown type 'weird'" in broken.output
    assert "pipelines.p.destination.columns: must not be empty" in broken.output


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("pipelines:\n  p: [unclosed\n")

    result = invoke("validate", "-c", str(broken))

    assert result.exit_code == 2 and "not valid YAML at line" in result.output


def test_unreachable_database_is_one_clear_error(tmp_path: Path, api: SampleApi) -> None:
    database = tmp_path / "no" / "such" / "dir" / "sync.db"
    config_file = write_config(
        tmp_path / "c.yaml", config_document(database, {"items": pipeline_config(api.url)})
    )

    result = invoke("run", "items", "-c", str(config_file))

    assert result.exit_code == 2
    assert "cannot open the database" in result.output and "Traceback" not in result.output


def test_every_command_has_help_text() -> None:
    import typer.main

    commands = typer.main.get_command(app).commands
    assert {"run", "status", "errors", "retry-failed"} <= set(commands), "the commands come from the app"
    helps = {name: " ".join((command.help or "").split()) for name, command in commands.items()}
    assert len(set(helps.values())) == len(helps), "each command has its own help text"
    for name, command in commands.items():
        result = invoke(name, "--help")
        page = " ".join(result.output.split())
        assert result.exit_code == 0
        assert len(helps[name]) > 20 and helps[name].split(". ")[0] in page, name
        for param in command.params:
            assert getattr(param, "help", None), f"{name} {param.name} has no help text"


def test_verbose_logs_each_request_with_secrets_redacted(
    tmp_path: Path, api: SampleApi, database: Path
) -> None:
    from fakeapi import ApiKeyAuth

    api.settings.auth = ApiKeyAuth("api_key", "query-secret-123", "query")
    pipeline = pipeline_config(
        api.url, auth={"type": "api_key", "name": "api_key", "value": "query-secret-123", "in": "query"}
    )
    config_file = write_config(tmp_path / "c.yaml", config_document(database, {"items": pipeline}))

    result = invoke("run", "items", "-c", str(config_file), "--verbose")

    assert result.exit_code == 0, result.output
    assert result.output.count("GET http") >= 5, "each request is logged"
    assert "query-secret-123" not in result.output
    assert all(r.query.get("api_key") == "query-secret-123" for r in api.requests), "the key was still sent"


def test_a_column_added_to_the_config_is_added_to_the_table_and_filled(
    config_file: Path, tmp_path: Path, api: SampleApi, database: Path
) -> None:
    import sqlite3

    invoke("run", "items", "-c", str(config_file))
    pipeline = pipeline_config(api.url)
    pipeline["destination"]["columns"]["stock_unit"] = {"path": "unit", "type": "string"}
    del pipeline["destination"]["columns"]["warehouse"]  # a removed column is left in place
    grown = write_config(tmp_path / "grown.yaml", config_document(database, {"items": pipeline}))

    result = invoke("run", "items", "-c", str(grown), "--json")

    summary = orjson.loads(result.stdout)
    with sqlite3.connect(database) as connection:
        units = {unit for (unit,) in connection.execute("SELECT stock_unit FROM items")}
        columns = {row[1] for row in connection.execute("PRAGMA table_info(items)")}
    assert result.exit_code == 0 and summary["updated"] == 1_000, "every row gains the new column's value"
    assert units == {"pcs"} and "warehouse" in columns


def test_a_changed_column_type_is_a_clear_error_with_the_migration(
    config_file: Path, tmp_path: Path, api: SampleApi, database: Path
) -> None:
    invoke("run", "items", "-c", str(config_file))
    pipeline = pipeline_config(api.url)
    pipeline["destination"]["columns"]["stock_quantity"]["type"] = "decimal"
    changed = write_config(tmp_path / "changed.yaml", config_document(database, {"items": pipeline}))
    api.clear_log()

    result = invoke("run", "items", "-c", str(changed))

    output = result.output.replace("\n", " ")
    assert result.exit_code == 2
    assert "column stock_quantity of items is BIGINT in the database but decimal in the config" in output
    assert "ALTER TABLE items DROP COLUMN stock_quantity" in output
    assert api.requests == []


def test_error_text_is_printed_as_is_not_as_rich_markup(
    tmp_path: Path, api: SampleApi, database: Path
) -> None:
    pipeline = pipeline_config(api.url, records_path="data:100:[bold]x[/bold]")
    config_file = write_config(tmp_path / "c.yaml", config_document(database, {"items": pipeline}))

    result = invoke("run", "items", "-c", str(config_file))

    assert "records_path data:100:[bold]x[/bold] not found" in result.output.replace("\n", "")


def test_json_logs_are_one_object_per_line_with_the_run_id(config_file: Path, api: SampleApi) -> None:
    from fakeapi.faults import FailNth

    api.settings.faults = FailNth({2: "server_error"})  # a retry, logged from the fetch thread

    result = invoke("run", "items", "-c", str(config_file), "--json", "--log-format", "json")

    lines = [orjson.loads(line) for line in result.output.splitlines() if line.strip()]
    summary = next(line for line in lines if "status" in line)
    logs = [line for line in lines if "message" in line]
    assert summary["status"] == "succeeded" and summary["retries"] == 1
    assert any("retrying" in line["message"] for line in logs)
    assert logs and all(line["run_id"] == summary["run_id"] and line["pipeline"] == "items" for line in logs)


@pytest.mark.parametrize(
    ("status", "synced", "code"),
    [
        ("succeeded", 0, 0),
        ("succeeded", 10, 0),
        ("partial", 10, 1),
        ("failed", 10, 1),
        ("failed", 0, 2),
        ("cancelled", 10, 130),
    ],
)
def test_exit_code_follows_the_run_status(status: str, synced: int, code: int) -> None:
    from datetime import UTC, datetime

    from batchsync.cli import exit_code_for
    from batchsync.models import RunResult, RunStatus, Trigger, WriteCounts

    now = datetime.now(UTC)
    result = RunResult(
        run_id="r",
        pipeline="p",
        trigger=Trigger.MANUAL,
        status=RunStatus(status),
        started_at=now,
        finished_at=now,
        api_calls=1,
        pages=1,
        counts=WriteCounts(created=synced),
        is_pass_complete=False,
    )
    assert exit_code_for(result) == code
