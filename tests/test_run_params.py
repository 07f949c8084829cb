"""`batchsync run NAME --param NAME=VALUE` (repeatable): a query parameter for this run only, over the
source's own; part of the pass fingerprint, so an unfinished pass begun with other parameters is refused
naming them. Against the real sample API, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import batchsync
from batchsync.cli import app
from batchsync.engine import Progress
from fakeapi import SampleApi
from syncsupport import fetch_all, pipeline_config, table_rows_at, url_document, write_config

runner = CliRunner(env={"COLUMNS": "250"})
PATH = "/inventory/v1/items"


def config_file(tmp_path: Path, api: SampleApi, database_url: str, **source: Any) -> Path:
    pipeline = pipeline_config(api.url, params={"filter_by": "Status.All"}, **source)
    return write_config(tmp_path / "c.yaml", url_document(database_url, {"items": pipeline}))


def sent(api: SampleApi, name: str) -> set[str | None]:
    return {request.query.get(name) for request in api.requests if request.path == PATH}


def stop_after_first_batch(config: Path, **params: str) -> batchsync.RunResult:
    stop = threading.Event()

    def stop_now(_: Progress) -> None:
        stop.set()

    return batchsync.run("items", config, params=params, stop=stop, on_progress=stop_now)


def test_a_param_is_sent_with_every_request_of_that_run_only(
    api: SampleApi, database_url: str, tmp_path: Path
) -> None:
    config = config_file(tmp_path, api, database_url)

    overridden = runner.invoke(
        app, ["run", "items", "-c", str(config), "--param", "filter_by=Status.Active", "--param", "q2=x"]
    )
    seen_with, seen_with_q2 = sent(api, "filter_by"), sent(api, "q2")
    api.clear_log()
    plain = runner.invoke(app, ["run", "items", "-c", str(config)])

    assert overridden.exit_code == 0 and plain.exit_code == 0, overridden.output + plain.output
    assert seen_with == {"Status.Active"} and seen_with_q2 == {"x"}
    assert sent(api, "filter_by") == {"Status.All"} and sent(api, "q2") == {None}
    assert len(table_rows_at(database_url)) == len(api.inventory)


@pytest.mark.parametrize(
    ("again", "said"),
    [
        (
            ["--param", "filter_by=Status.Inactive"],
            "--param filter_by=Status.Active then, --param filter_by=Status.Inactive now: "
            "rerun with --param filter_by=Status.Active to resume it",
        ),
        ([], "--param filter_by=Status.Active then, no --param filter_by now: rerun with --param filter_by="),
    ],
    ids=["other_value", "none"],
)
def test_an_unfinished_pass_begun_with_other_params_is_refused_naming_them(
    again: list[str], said: str, api: SampleApi, database_url: str, tmp_path: Path
) -> None:
    config = config_file(tmp_path, api, database_url)
    interrupted = stop_after_first_batch(config, filter_by="Status.Active")

    refused = runner.invoke(app, ["run", "items", "-c", str(config), *again])
    resumed = runner.invoke(app, ["run", "items", "-c", str(config), "--param", "filter_by=Status.Active"])

    assert not interrupted.is_pass_complete
    assert refused.exit_code == 2 and said in " ".join(refused.output.split()), refused.output
    assert "batchsync reset items" in refused.output and "fingerprint" not in refused.output
    assert resumed.exit_code == 0, resumed.output
    assert len(table_rows_at(database_url)) == len(api.inventory)


def test_a_pass_begun_without_params_refuses_one_and_says_to_drop_it(
    api: SampleApi, database_url: str, tmp_path: Path
) -> None:
    config = config_file(tmp_path, api, database_url)
    stop_after_first_batch(config)

    refused = runner.invoke(app, ["run", "items", "-c", str(config), "--param", "filter_by=Status.Active"])

    text = " ".join(refused.output.split())
    assert refused.exit_code == 2
    assert (
        "no --param filter_by then, --param filter_by=Status.Active now: rerun without --param filter_by"
        in text
    )


def test_a_secret_looking_param_is_never_stored_as_given(
    api: SampleApi, database_url: str, tmp_path: Path
) -> None:
    config = config_file(tmp_path, api, database_url)
    stop_after_first_batch(config, api_key="s3cret-value")

    refused = runner.invoke(app, ["run", "items", "-c", str(config), "--param", "api_key=other"])

    (state,) = fetch_all(database_url, "SELECT state FROM batchsync_checkpoints")
    assert "s3cret-value" not in state[0]
    assert refused.exit_code == 2 and "s3cret-value" not in refused.output
    assert "--param api_key=(a secret value) then" in " ".join(refused.output.split())


@pytest.mark.parametrize(
    ("params", "said"),
    [
        (
            ["--param", "page=3"],
            "--param page: batchsync sets page itself on every request (paginator.page_param)",
        ),
        (["--param", "per_page=5"], "--batch-size sets the page size"),
        (["--param", "filter_by"], "--param 'filter_by': use NAME=VALUE"),
        (["--param", "a=1", "--param", "a=2"], "--param a is given twice"),
    ],
    ids=["page_param", "size_param", "no_value", "twice"],
)
def test_a_param_batchsync_cannot_honour_is_refused_before_any_request(
    params: list[str], said: str, api: SampleApi, database_url: str, tmp_path: Path
) -> None:
    config = config_file(tmp_path, api, database_url)

    refused = runner.invoke(app, ["run", "items", "-c", str(config), *params])

    assert refused.exit_code == 2 and said in " ".join(refused.output.split()), refused.output
    assert not [request for request in api.requests if request.path == PATH]


def test_a_param_for_a_python_source_is_a_config_error(database_url: str) -> None:
    document = {
        "database": database_url,
        "pipelines": {
            "squares": {
                "source": {"type": "python", "function": "pysource_fixture:numbers"},
                "destination": {
                    "table": "squares",
                    "primary_key": "n",
                    "columns": {"n": {"path": "n", "type": "integer"}},
                },
            }
        },
    }

    with pytest.raises(batchsync.ConfigError, match="--param applies to rest sources"):
        batchsync.run("squares", document, params={"x": "1"})
