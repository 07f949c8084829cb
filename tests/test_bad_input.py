"""Bad input gets one readable message, the right exit code, no traceback, and changes no data."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from batchsync.cli import app
from fakeapi import SampleApi
from syncsupport import config_document, pipeline_config, write_config

runner = CliRunner(env={"COLUMNS": "200"})

Edit = Callable[[dict[str, Any], Path], None]


def set_in(path: str, value: Any) -> Edit:
    def edit(document: dict[str, Any], _: Path) -> None:
        node = document["pipelines"]["items"]
        *parents, last = path.split(".")
        for part in parents:
            node = node[part]
        node[last] = value

    return edit


def read_only_database(document: dict[str, Any], database: Path) -> None:
    document["database"] = f"sqlite:///file:{database}?mode=ro&uri=true"


def missing_directory(document: dict[str, Any], database: Path) -> None:
    document["database"] = f"sqlite:///{database.parent / 'missing' / 'dir' / 'sync.db'}"


CASES: list[tuple[str, Edit | str, str]] = [
    ("malformed_yaml", "pipelines:\n  items: [unclosed\n", "not valid YAML at line 3"),
    ("unknown_paginator", set_in("source.paginator", {"type": "sideways"}), "unknown type 'sideways'"),
    ("unknown_auth", set_in("source.auth", {"type": "kerberos"}), "source.auth: unknown type 'kerberos'"),
    ("negative_page_size", set_in("source.paginator.page_size", -5), "paginator.page_size: must be > 0"),
    ("zero_db_batch_size", set_in("db_batch_size", 0), "pipelines.items.db_batch_size: must be > 0"),
    (
        "missing_env_var",
        set_in("source.auth", {"type": "bearer", "token": "${BS_TEST_NO_SUCH_VAR}"}),
        "environment variable BS_TEST_NO_SUCH_VAR is not set",
    ),
    ("unreachable_database", missing_directory, "cannot open the database"),
    ("read_only_database", read_only_database, "readonly database"),
    ("html_instead_of_json", set_in("source.path", "/"), "answered HTML where JSON was expected"),
    ("records_path_not_found", set_in("source.records_path", "products"), "records_path products not found"),
    (
        "unknown_column_type",
        set_in("destination.columns.sku", {"path": "sku", "type": "money"}),
        "columns.sku.type: must be one of",
    ),
    (
        "primary_key_not_a_column",
        set_in("destination.primary_key", "id"),
        "destination.primary_key 'id' must be one of destination.columns",
    ),
]


def data_snapshot(database: Path) -> tuple[Any, ...]:
    """Everything but the run history (a failed run is recorded, by design)."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT * FROM items ORDER BY item_id").fetchall()
        state = connection.execute("SELECT state FROM batchsync_checkpoints").fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest(), state


@pytest.mark.parametrize(("_case", "edit", "message"), CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_one_clear_message_with_exit_2_and_no_data_changed(
    _case: str, edit: Edit | str, message: str, tmp_path: Path, api: SampleApi, database: Path
) -> None:
    good = config_document(database, {"items": pipeline_config(api.url)})
    assert (
        runner.invoke(app, ["run", "items", "-c", str(write_config(tmp_path / "good.yaml", good))]).exit_code
        == 0
    )
    api.inventory.update(10, rng_seed=1)  # so a run that wrongly wrote anything would change the data
    before = data_snapshot(database)
    config_file = tmp_path / "bad.yaml"
    if isinstance(edit, str):
        config_file.write_text(edit)
    else:
        bad = config_document(database, {"items": pipeline_config(api.url)})
        edit(bad, database)
        write_config(config_file, bad)

    result = runner.invoke(app, ["run", "items", "-c", str(config_file)])

    assert result.exit_code == 2, result.output
    assert message in result.output.replace("\n", " "), result.output
    assert "Traceback" not in result.output
    assert data_snapshot(database) == before


def test_verbose_shows_the_traceback_for_bad_input(tmp_path: Path) -> None:
    config_file = tmp_path / "bad.yaml"
    config_file.write_text("pipelines:\n  items: [unclosed\n")

    result = runner.invoke(app, ["run", "items", "-c", str(config_file), "--verbose"])

    assert result.exit_code == 2
    assert "Traceback" in result.output
