"""Targeted sync: `run NAME --only ID,ID` fetches just those records and upserts them, on SQLite and
PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import batchsync
from batchsync.cli import app
from batchsync.models import RunStatus
from fakeapi import SampleApi
from syncsupport import (
    config_document,
    expected_rows,
    pipeline_config,
    table_rows_at,
    url_document,
    write_config,
)


@pytest.mark.parametrize(
    "form",
    [
        {"item_path": "/inventory/v1/items/{id}", "item_record_path": "item"},
        {"ids_param": "item_ids", "ids_batch_size": 2},
    ],
    ids=["one_request_each", "list_by_ids"],
)
def test_only_fetches_and_upserts_just_those_records(
    form: dict[str, object], api: SampleApi, database_url: str
) -> None:
    config = url_document(database_url, {"items": pipeline_config(api.url, **form)})
    batchsync.run("items", config)
    items = api.inventory.items()
    wanted = [items[3]["item_id"], items[500]["item_id"], items[999]["item_id"]]
    api.inventory.update_ids(wanted[:2])
    api.clear_log()

    result = batchsync.run("items", config, only=[*wanted, "4815000000999999"])

    rows, source = table_rows_at(database_url), expected_rows(api.inventory)
    assert result.status is RunStatus.PARTIAL
    assert (result.counts.updated, result.counts.unchanged) == (2, 1)
    assert [(f.key, "not found" in f.error) for f in result.dead_letters] == [("4815000000999999", True)]
    assert all(rows[key] == source[key] for key in wanted)
    assert sum(r.record_count for r in api.requests) == 3, "nothing but the named records was fetched"
    (status,) = batchsync.status("items", config)
    assert status.is_complete, "a targeted sync leaves the pass checkpoint alone"


def test_only_without_a_way_to_fetch_one_record_is_a_config_error(
    api: SampleApi, database: Path, tmp_path: Path
) -> None:
    config_file = write_config(
        tmp_path / "c.yaml", config_document(database, {"items": pipeline_config(api.url)})
    )

    result = CliRunner().invoke(app, ["run", "items", "-c", str(config_file), "--only", "1,2"])

    assert result.exit_code == 2 and "item_path" in result.output


def test_only_with_an_unknown_id_names_it_and_does_not_report_the_pass_beside_it(
    api: SampleApi, database: Path, tmp_path: Path
) -> None:
    pipeline = pipeline_config(api.url, item_path="/inventory/v1/items/{id}", item_record_path="item")
    config_file = write_config(tmp_path / "c.yaml", config_document(database, {"items": pipeline}))
    CliRunner().invoke(app, ["run", "items", "-c", str(config_file)])
    known = api.inventory.items()[3]["item_id"]

    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["run", "items", "-c", str(config_file), "--only", f"{known},4815000000999999"]
    )

    assert result.exit_code == 1
    assert "failed 4815000000999999: not found (404)" in result.output
    assert "--only: just those ids; the pass checkpoint is left as it was" in result.output
    assert "pass complete" not in result.output


def test_only_with_an_id_the_record_filter_leaves_out_says_which_and_why(
    api: SampleApi, database_url: str
) -> None:
    pipeline = pipeline_config(
        api.url, ids_param="item_ids", record_filter=[{"field": "stock_on_hand", "gt": 250}]
    )
    config = url_document(database_url, {"items": pipeline})
    items = api.inventory.items()
    kept = next(item for item in items if item["stock_on_hand"] > 250)["item_id"]
    dropped = next(item for item in items if item["stock_on_hand"] <= 250)
    stock = dropped["stock_on_hand"]

    result = batchsync.run("items", config, only=[kept, dropped["item_id"]])

    assert result.status is RunStatus.SUCCEEDED and (result.counts.created, result.counts.filtered) == (1, 1)
    assert result.warnings == (
        f"--only {dropped['item_id']}: not synced, the record_filter leaves it out: "
        f"stock_on_hand is {stock} (must be > 250)",
    )
    assert set(table_rows_at(database_url)) == {kept}
