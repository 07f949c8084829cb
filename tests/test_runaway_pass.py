"""An API that ignores the position it is asked for must not keep a pass going forever: a page whose keys
are exactly the previous page's, or a pass that reads far more than the API's total, stops the run with a
PaginationError that names the setting to check, after a bounded number of requests, with the checkpoint
still good for a correct run once the cause is fixed. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

import batchsync
from batchsync.cli import app
from batchsync.models import RunStatus
from fakeapi import Drift, Inventory, SampleApi
from fakeapi.messages import ApiRequest, Response, json_response
from syncsupport import assert_table_at_equals_source, pipeline_config, table_rows_at, url_document

runner = CliRunner(env={"COLUMNS": "200"})

REQUEST_BUDGET = 100
"""More collection requests than any test here needs: past it the API refuses, so a regression that
loops again fails its test (with a different error) instead of hanging the suite."""


class RequestBudget:
    """Answers honestly until `REQUEST_BUDGET` collection requests were served, then refuses with a 400."""

    def __init__(self) -> None:
        self._served = 0
        self._lock = threading.Lock()

    def before_collection_response(self, _request: ApiRequest, response: Response) -> Response:
        with self._lock:
            self._served += 1
            if self._served > REQUEST_BUDGET:
                return json_response(400, {"message": "the test's request budget is spent"})
        return self.answer(self._served, response)

    def answer(self, _ordinal: int, response: Response) -> Response:
        return response


class FirstPageRecordsAgain(RequestBudget):
    """An API gone wrong: every answer after the first carries the first page's records again, with
    the rest of the answer (next cursor, next link, next URL) as the API made it, so the pass is handed
    a fresh position each time and no cursor is ever sent twice. `records_key` is where the answer puts
    its records (None: the answer is the bare list)."""

    def __init__(self, records_key: str | None) -> None:
        super().__init__()
        self._records_key = records_key
        self._first: Any = None

    def answer(self, ordinal: int, response: Response) -> Response:
        if ordinal == 1:
            self._first = orjson.loads(response.body)
            return response
        if self._records_key is None:
            records, body = self._first, self._first
        else:
            records = self._first[self._records_key]
            body = {**orjson.loads(response.body), self._records_key: records}
        return dataclasses.replace(response, body=orjson.dumps(body), record_count=len(records))


class TwoPagesInTurn(RequestBudget):
    """An API that ignores the position but not in a way one page shows: after two honest answers it
    serves them again in turn (1, 2, 1, 2, ...), each still saying more pages follow."""

    def __init__(self) -> None:
        super().__init__()
        self._honest: list[Response] = []

    def answer(self, ordinal: int, response: Response) -> Response:
        if ordinal <= 2:
            self._honest.append(response)
            return response
        return self._honest[(ordinal - 1) % 2]


def document(api: SampleApi, database_url: str, style: str, **paginator: Any) -> dict[str, Any]:
    pipeline = pipeline_config(api.url, style)
    pipeline["source"]["paginator"].update(paginator)
    pipeline["concurrency"] = 1  # the tests count the requests a runaway costs, sent one after another
    return url_document(database_url, {"items": pipeline})


def run_cli(config: dict[str, Any], tmp_path: Path) -> tuple[int, str]:
    config_file = tmp_path / "c.yaml"
    config_file.write_text(orjson.dumps(config).decode())  # JSON is YAML
    result = runner.invoke(app, ["run", "items", "-c", str(config_file)])
    return result.exit_code, " ".join(result.output.split())  # as one line, however Rich wrapped it


IGNORED_POSITION = {
    # style: (the setting the API does not read, a wrong name for it, the message's two pages)
    "offset_has_more": ("offset_param", "start", "offset 200 as for offset 0"),
    "offset_total": ("offset_param", "start", "offset 200 as for offset 0"),
    "offset_short_page": ("offset_param", "start", "offset 300 as for offset 0"),
    "page_number_has_more": ("page_param", "p", "page 2 as for page 1"),
    "page_number_total_pages": ("page_param", "p", "page 2 as for page 1"),
}


@pytest.mark.parametrize("style", sorted(IGNORED_POSITION))
def test_an_api_that_ignores_the_position_param_stops_after_two_pages_and_names_the_param(
    style: str, tmp_path: Path, database_url: str
) -> None:
    setting, wrong, pages = IGNORED_POSITION[style]
    with SampleApi(Inventory(size=1_000)) as api:
        api.settings.faults = RequestBudget()
        config = document(api, database_url, style, **{setting: wrong})

        exit_code, output = run_cli(config, tmp_path)
        requests = len(api.requests)
        (stopped,) = batchsync.status("items", config)
        first_page = set(table_rows_at(database_url))

        config["pipelines"]["items"]["source"]["paginator"][setting] = {"offset_param": "offset"}.get(
            setting, "page"
        )
        fixed = batchsync.run("items", config)

        assert exit_code == 1, output  # failed after committing the first page (2 when nothing was written)
        assert f"the API returned the same {len(first_page)} records for {pages}" in output
        assert f"is `{setting}: {wrong}` right?" in output
        assert requests == 2, "the run stops at the first repeated page, without fetching a third"
        assert stopped.pass_records == len(first_page) and not stopped.is_complete
        assert fixed.status is RunStatus.SUCCEEDED, fixed.error
        assert fixed.counts.created == 1_000 - len(first_page), "the fixed run resumes after page one"
        assert_table_at_equals_source(database_url, api.inventory)


FRESH_POSITIONS = {
    # style: (where the answer puts its records, how the message names the second page, the hint)
    "cursor_in_body": (
        "items",
        "cursor 'eyJ",
        "are `cursor_param: cursor` and `next_cursor_path: next_cursor` right?",
    ),
    "link_header": (
        None,
        "the next link 'http://127.0.0.1",
        'does the `rel="next"` link of the `Link` header lead to the next page?',
    ),
    "next_url": (
        "records",
        "the next URL 'http://127.0.0.1",
        "does `next_url_path: nextRecordsUrl` hold the next page's URL?",
    ),
}


@pytest.mark.parametrize("style", sorted(FRESH_POSITIONS))
def test_an_api_handing_out_fresh_cursors_over_the_same_records_stops_after_two_pages(
    style: str, tmp_path: Path, database_url: str
) -> None:
    records_key, second_page, hint = FRESH_POSITIONS[style]
    with SampleApi(Inventory(size=1_000)) as api:
        api.settings.faults = FirstPageRecordsAgain(records_key)
        config = document(api, database_url, style)

        exit_code, output = run_cli(config, tmp_path)
        requests = len(api.requests)
        first_page = set(table_rows_at(database_url))
        api.settings.faults = RequestBudget()  # the API is fixed
        fixed = batchsync.run("items", config)

        assert exit_code == 1, output
        assert f"the API returned the same {len(first_page)} records for {second_page}" in output
        assert f"as for the first page: {hint}" in output
        assert requests == 2
        assert fixed.status is RunStatus.SUCCEEDED, fixed.error
        assert fixed.counts.created == 1_000 - len(first_page), "the fixed run resumes after page one"
        assert_table_at_equals_source(database_url, api.inventory)


def test_one_record_pages_may_repeat_a_few_times_before_the_run_stops(database_url: str) -> None:
    """A page of one record repeats legitimately whenever one record is inserted at the front between two
    requests, so tiny pages are given until ten records were read again in a row."""
    with SampleApi(Inventory(size=50)) as api:
        api.settings.faults = RequestBudget()
        config = document(api, database_url, "offset_has_more", limit=1, offset_param="start")

        result = batchsync.run("items", config)

        assert result.status is RunStatus.FAILED
        assert "the same 1 records for offset 10 as for offset 0" in (result.error or "")
        assert len(api.requests) == 11


@pytest.mark.parametrize("page_size", [1, 5])
def test_drift_that_repeats_a_whole_small_page_once_is_not_mistaken_for_a_runaway(
    page_size: int, database_url: str
) -> None:
    with SampleApi(Inventory(size=30)) as api:
        api.settings.faults = RequestBudget()
        # Right after the first page, exactly a page's worth of records arrives at the front: the second
        # page holds the first page's records again, legitimately.
        api.settings.drift = Drift(every_pages=1, insert=page_size, stop_after=1)
        config = document(api, database_url, "offset_has_more", limit=page_size)
        config["pipelines"]["items"]["on_drift"] = "repass"

        result = batchsync.run("items", config)

        assert result.status is RunStatus.SUCCEEDED, result.error
        assert result.drift.inserted == page_size
        assert_table_at_equals_source(database_url, api.inventory)


def test_pages_that_share_a_few_records_through_drift_are_not_a_runaway(database_url: str) -> None:
    with SampleApi(Inventory(size=1_000)) as api:
        api.settings.drift = Drift(every_pages=1, insert=3, stop_after=5)
        config = document(api, database_url, "offset_has_more", limit=50)
        config["pipelines"]["items"]["on_drift"] = "repass"

        result = batchsync.run("items", config)

        assert result.status is RunStatus.SUCCEEDED, result.error
        assert_table_at_equals_source(database_url, api.inventory)


OUTRUN_TOTAL = {
    # style: (the extra paginator settings, what the message names)
    "offset_has_more": (
        {"total_path": "totalResults"},
        "says the collection holds 1000 records (`total_path: totalResults`), but this pass has read 2400",
    ),
    "page_number_has_more": (
        {"total_pages_path": "page_context.total_pages"},
        "says the collection has 5 pages (`total_pages_path: page_context.total_pages`), "
        "but this pass has read 12",
    ),
}


@pytest.mark.parametrize("style", sorted(OUTRUN_TOTAL))
def test_a_pass_that_reads_far_more_than_the_total_stops_with_a_clear_error(
    style: str, tmp_path: Path, database_url: str
) -> None:
    settings, message = OUTRUN_TOTAL[style]
    with SampleApi(Inventory(size=1_000)) as api:
        api.settings.faults = TwoPagesInTurn()
        config = document(api, database_url, style, **settings)

        exit_code, output = run_cli(config, tmp_path)
        requests = len(api.requests)
        api.settings.faults = RequestBudget()  # the API is fixed
        fixed = batchsync.run("items", config, full_refresh=True)

        assert exit_code == 1, output
        assert message in output
        assert "--full-refresh" in output, "the pages read cannot be trusted: the message says to start over"
        # More than twice the total plus a page: 2 × 1000 + 200 records, 2 × 5 + 1 pages.
        assert requests == 12
        assert fixed.status is RunStatus.SUCCEEDED, fixed.error
        assert_table_at_equals_source(database_url, api.inventory)
