"""An unfinished pass resumes only under the settings it began with; when they changed, the refusal names
the setting with its old and new values and how to put it back ("page size 200 then, 100 now: rerun with
--batch-size 200"), never fingerprints. Checkpoints from before the settings were kept still resume, and
are refused in the same words. Against the real sample API, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner

import batchsync
from batchsync.cli import app
from batchsync.engine import Progress
from fakeapi import SampleApi
from syncsupport import execute, fetch_all, pipeline_config, table_rows_at, url_document, write_config

runner = CliRunner(env={"COLUMNS": "250"})


def config_file(tmp_path: Path, api: SampleApi, database_url: str, **paginator: Any) -> Path:
    pipeline = pipeline_config(api.url)  # page_number, 200 per page, size sent as per_page
    pipeline["source"]["paginator"].update(paginator)
    return write_config(tmp_path / "c.yaml", url_document(database_url, {"items": pipeline}))


def stop_after_first_batch(config: Path) -> None:
    stop = threading.Event()

    def stop_now(_: Progress) -> None:
        stop.set()

    result = batchsync.run("items", config, stop=stop, on_progress=stop_now)
    assert not result.is_pass_complete


def said(result: Any) -> str:
    return " ".join(result.output.split())


def forget_settings(database_url: str) -> None:
    """Make the stored checkpoint look like one batchsync 0.1 wrote: a fingerprint, no settings."""
    ((state,),) = fetch_all(database_url, "SELECT state FROM batchsync_checkpoints")
    document = orjson.loads(state)
    document.pop("settings")
    execute(
        database_url,
        "UPDATE batchsync_checkpoints SET state = :state",
        {"state": orjson.dumps(document).decode()},
    )


def test_another_page_size_is_refused_naming_both_sizes_and_the_flag_that_resumes(
    api: SampleApi, database_url: str, tmp_path: Path
) -> None:
    config = config_file(tmp_path, api, database_url)
    stop_after_first_batch(config)

    refused = runner.invoke(app, ["run", "items", "-c", str(config), "--batch-size", "100"])
    resumed = runner.invoke(app, ["run", "items", "-c", str(config), "--batch-size", "200"])

    assert refused.exit_code == 2
    assert (
        "items has an unfinished pass that was started with page size 200 then, 100 now: "
        "rerun with --batch-size 200 to resume it, or run `batchsync reset items` to start the pass over"
    ) in said(refused)
    assert "page_number:" not in refused.output and "fingerprint" not in refused.output
    assert resumed.exit_code == 0 and len(table_rows_at(database_url)) == len(api.inventory)


def test_a_setting_only_the_config_holds_is_named_with_the_config_field(
    api: SampleApi, database_url: str, tmp_path: Path
) -> None:
    config = config_file(tmp_path, api, database_url)
    stop_after_first_batch(config)
    moved = config_file(tmp_path, api, database_url, start=0)

    refused = runner.invoke(app, ["run", "items", "-c", str(moved)])

    assert refused.exit_code == 2
    assert "first page (paginator.start) 1 then, 0 now: restore paginator.start: 1 in the config" in said(
        refused
    )


def test_a_checkpoint_from_before_settings_were_kept_resumes_and_is_refused_in_the_same_words(
    api: SampleApi, database_url: str, tmp_path: Path
) -> None:
    config = config_file(tmp_path, api, database_url)
    stop_after_first_batch(config)
    forget_settings(database_url)

    api.clear_log()

    refused = runner.invoke(app, ["run", "items", "-c", str(config), "--batch-size", "100"])
    resumed = runner.invoke(app, ["run", "items", "-c", str(config)])

    assert refused.exit_code == 2
    assert "page size 200 then, 100 now: rerun with --batch-size 200 to resume it" in said(refused)
    assert resumed.exit_code == 0, resumed.output
    assert len(table_rows_at(database_url)) == len(api.inventory)
    pages = [request.query.get("page") for request in api.requests if request.path.endswith("/items")]
    assert pages and "1" not in pages, "it resumed past the first page rather than starting over"
