"""`source.record_filter`: records that fail it are not written and are counted as `filtered` (summary,
`--json`, run record); a row they left from before is kept, never deleted by on_missing as missing; a
value the filter cannot judge is a dead letter with the reason. Against the real sample API, on SQLite and
PostgreSQL alike."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner

import batchsync
from batchsync.cli import app
from batchsync.models import RunStatus
from fakeapi import SampleApi
from fakeapi.messages import ApiRequest, Response
from syncsupport import fetch_all, fetch_dicts, pipeline_config, table_rows_at, url_document, write_config

runner = CliRunner(env={"COLUMNS": "200"})
IN_STOCK = [{"field": "stock_on_hand", "gt": 250}]


def filtered_config(api: SampleApi, database_url: str, record_filter: list[dict[str, Any]]) -> dict[str, Any]:
    pipeline = pipeline_config(api.url, record_filter=record_filter)
    return url_document(database_url, {"items": pipeline})


def test_only_records_that_meet_the_filter_land_and_the_others_are_counted_as_filtered(
    api: SampleApi, database_url: str, tmp_path: Path
) -> None:
    config_file = write_config(tmp_path / "c.yaml", filtered_config(api, database_url, IN_STOCK))
    wanted = {item["item_id"] for item in api.inventory.items() if item["stock_on_hand"] > 250}
    left_out = len(api.inventory) - len(wanted)

    shown = runner.invoke(app, ["run", "items", "-c", str(config_file), "--json"])
    summary = runner.invoke(app, ["run", "items", "-c", str(config_file), "--full-refresh"])

    assert shown.exit_code == 0, shown.output
    result = orjson.loads(shown.stdout)
    assert set(table_rows_at(database_url)) == wanted and 0 < left_out < len(api.inventory)
    assert (result["created"], result["filtered"], result["total_synced"]) == (
        len(wanted),
        left_out,
        len(wanted),
    )
    assert f"{len(wanted)} unchanged, {left_out} filtered out" in summary.output
    first_run = batchsync.history("items", config_file)[-1]
    assert first_run["run_id"] == result["run_id"] and first_run["filtered"] == left_out
    stored = fetch_all(
        database_url, "SELECT filtered FROM batchsync_runs WHERE run_id = :id", {"id": result["run_id"]}
    )
    assert stored == [(left_out,)]


def test_on_missing_delete_keeps_the_rows_of_records_the_filter_leaves_out(
    api: SampleApi, database_url: str
) -> None:
    unfiltered = url_document(database_url, {"items": pipeline_config(api.url)})
    batchsync.run("items", unfiltered)  # every item lands, inactive ones too
    config = filtered_config(api, database_url, [{"field": "status", "equals": "active"}])
    config["pipelines"]["items"]["destination"]["on_missing"] = "delete"
    items = api.inventory.items()
    inactive = [item["item_id"] for item in items if item["status"] != "active"]
    gone = next(item["item_id"] for item in items if item["status"] == "active")
    api.inventory.delete([gone])
    api.inventory.update_ids(inactive[:3])  # changed in the source, but filtered: the row stays as it was
    before = table_rows_at(database_url)

    result = batchsync.run("items", config)

    rows = table_rows_at(database_url)
    assert result.status is RunStatus.SUCCEEDED and result.counts.filtered == len(inactive)
    assert result.deleted == 1 and gone not in rows, "a record really gone from the source is deleted"
    assert all(rows[key] == before[key] for key in inactive), "filtered rows are kept, unchanged"
    assert set(rows) == set(before) - {gone}


class StockAsText:
    """Serves the real pages with one item's stock_on_hand sent as text, which no number rule can judge."""

    def __init__(self, item_id: str, text: str) -> None:
        self._item_id, self._text = item_id, text

    def before_collection_response(self, _request: ApiRequest, response: Response) -> Response:
        body = orjson.loads(response.body)
        for item in body.get("items", []) if isinstance(body, dict) else []:
            if item["item_id"] == self._item_id:
                item["stock_on_hand"] = self._text
        return dataclasses.replace(response, body=orjson.dumps(body))


def test_a_value_the_filter_cannot_judge_is_a_dead_letter_saying_why(
    api: SampleApi, database_url: str
) -> None:
    odd = api.inventory.items()[7]["item_id"]
    api.settings.faults = StockAsText(odd, "lots")

    result = batchsync.run("items", filtered_config(api, database_url, IN_STOCK))

    letters = fetch_dicts(database_url, "SELECT key, error FROM batchsync_errors")
    assert result.status is RunStatus.PARTIAL and odd not in table_rows_at(database_url)
    assert [letter["key"] for letter in letters] == [odd]
    assert "stock_on_hand is the text 'lots', not a number (must be > 250)" in letters[0]["error"]
    assert result.counts.filtered + result.counts.created + 1 == len(api.inventory)


def test_the_watermark_moves_past_filtered_records_so_the_next_run_does_not_fetch_them_again(
    api: SampleApi, database_url: str
) -> None:
    incremental = {"cursor_path": "last_modified_time", "param": "modified_since"}
    pipeline = pipeline_config(
        api.url,
        "offset_has_more",
        incremental=incremental,
        record_filter=[{"field": "status", "equals": "active"}],
    )
    config = url_document(database_url, {"items": pipeline})
    batchsync.run("items", config)
    inactive = [item["item_id"] for item in api.inventory.items() if item["status"] != "active"][:4]
    api.inventory.update_ids(inactive)  # the newest changes are all records the filter leaves out
    newest = max(item["last_modified_time"] for item in api.inventory.items())

    second = batchsync.run("items", config)
    api.clear_log()
    third = batchsync.run("items", config)

    assert (second.counts.filtered, second.total_synced) == (4, 0)
    assert (third.counts.filtered, third.total_synced) == (0, 0)
    assert {request.query.get("modified_since") for request in api.requests} == {newest}
