"""`partition:` splits one pull into half-open ranges of a filter, each a unit of work with its own
checkpoint, up to the pipeline's `concurrency` at once. Against the fake API's page-number shape with its
two-bound window (`modified_from` >=, `modified_before` <, or the same in `q`), on real databases."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import batchsync
from batchsync.cli import app
from batchsync.engine import Progress
from batchsync.errors import ConfigError
from batchsync.models import EntityStatus, RunStatus
from fakeapi import SampleApi
from fakeapi.faults import FailWhere, NoFaults
from pacing import arrival_times, burst_beyond, tolerated_burst
from syncsupport import assert_table_at_equals_source, fetch_all, pipeline_config, url_document, write_config

runner = CliRunner(env={"COLUMNS": "250"})
PATH = "/inventory/v1/items"
# The 1,000 items are modified at 00:00:01 … 00:16:40 (one a second): 4 ranges of 5 minutes, the last short.
RANGES = [
    ("2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"),
    ("2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z"),
    ("2026-01-01T00:10:00Z", "2026-01-01T00:15:00Z"),
    ("2026-01-01T00:15:00Z", "2026-01-01T00:17:00Z"),
]
TWO_PARAMS = {"param_from": "modified_from", "param_to": "modified_before"}
ONE_TEMPLATE = {
    "param": "q",
    "template": "last_modified_time >= '{from}' and last_modified_time < '{to}'",
}


def partitioned(
    api: SampleApi, database_url: str, form: dict[str, str] = TWO_PARAMS, **pipeline: Any
) -> dict[str, Any]:
    partition = {**form, "start": RANGES[0][0], "end": RANGES[-1][1], "step": "5m"}
    config = pipeline_config(api.url, partition=partition)
    config["retry"] = {"max_attempts": 1}
    return url_document(database_url, {"items": {**config, **pipeline}})


def range_requests(api: SampleApi) -> set[str | None]:
    """The lower bound of every page request, whichever form sent it."""
    return {
        request.query.get("modified_from") or request.query.get("q", "").split("'")[1]
        for request in api.requests
        if request.path == PATH
    }


@pytest.fixture
def sqlite_url(database: Path) -> str:
    return f"sqlite:///{database}"


def stored_keys(database_url: str) -> set[str]:
    return {row[0] for row in fetch_all(database_url, "SELECT pipeline FROM batchsync_checkpoints")}


@pytest.mark.parametrize("form", [TWO_PARAMS, ONE_TEMPLATE], ids=["two_params", "template"])
@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_partitioned_pull_gives_exactly_the_source_on_sqlite(
    form: dict[str, str], concurrency: int, api: SampleApi, sqlite_url: str
) -> None:
    result = batchsync.run("items", partitioned(api, sqlite_url, form, concurrency=concurrency))

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert [entity.id for entity in result.entities] == [f"{lo}..{hi}" for lo, hi in RANGES]
    assert result.counts.created == len(api.inventory) and result.is_pass_complete
    # every record fetched by exactly one range: none twice (an upsert would hide it), none missing;
    # by page, as each pass reads its first page again at the end (the drift check)
    pages = {(str(sorted(r.query.items())), r.record_count) for r in api.requests if r.path == PATH}
    assert sum(count for _, count in pages) == len(api.inventory)
    assert result.counts.total == len(api.inventory)
    assert range_requests(api) == {lo for lo, _ in RANGES}
    assert_table_at_equals_source(sqlite_url, api.inventory)
    status = batchsync.status("items", partitioned(api, sqlite_url, form))[0]
    assert (status.state, status.pass_records, status.pass_unit) == ("complete", 4, "ranges")


def test_four_ranges_at_once_give_exactly_the_source_on_postgresql(api: SampleApi, postgres_url: str) -> None:
    result = batchsync.run("items", partitioned(api, postgres_url, concurrency=4))

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert_table_at_equals_source(postgres_url, api.inventory)


def test_ranges_run_at_once_share_one_rate_limit(api: SampleApi, sqlite_url: str) -> None:
    rate = 20
    api.settings.rate_limit_per_second = rate  # a bucket of 20 tokens: a client at 20/s is never refused
    config = partitioned(api, sqlite_url, concurrency=4, rate_limit={"requests_per_second": rate})
    config["pipelines"]["items"]["source"]["paginator"]["page_size"] = 50

    result = batchsync.run("items", config)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert api.rate_limited_count == 0, "four ranges at 20/s each would send 80/s"
    assert burst_beyond(arrival_times(api.requests), rate) <= tolerated_burst(rate)
    assert_table_at_equals_source(sqlite_url, api.inventory)


def test_a_failing_range_leaves_the_others_complete_and_a_rerun_fetches_only_it(
    api: SampleApi, sqlite_url: str
) -> None:
    config = partitioned(api, sqlite_url, concurrency=2)
    failing = RANGES[1][0]
    api.settings.faults = FailWhere({"modified_from": failing}, "server_error")

    first = batchsync.run("items", config)
    api.settings.faults = NoFaults()
    api.clear_log()
    second = batchsync.run("items", config)

    assert first.status is RunStatus.PARTIAL and not first.is_pass_complete
    outcomes = {entity.id.split("..")[0]: entity.status for entity in first.entities}
    assert outcomes == {
        lo: EntityStatus.FAILED if lo == failing else EntityStatus.SUCCEEDED for lo, _ in RANGES
    }
    assert second.status is RunStatus.SUCCEEDED and second.is_pass_complete
    assert range_requests(api) == {failing}
    assert [entity.status for entity in second.entities].count(EntityStatus.SKIPPED) == 3
    assert_table_at_equals_source(sqlite_url, api.inventory)


def test_a_stopped_run_resumes_each_range_from_its_own_checkpoint(api: SampleApi, database_url: str) -> None:
    config = partitioned(api, database_url, concurrency=1)  # one range at a time: the stop lands in range 1
    stop = threading.Event()

    def stop_at_first_batch(_: Progress) -> None:
        stop.set()

    stopped = batchsync.run("items", config, stop=stop, on_progress=stop_at_first_batch)
    keys_when_stopped = stored_keys(database_url)
    api.clear_log()
    resumed = batchsync.run("items", config)

    assert stopped.status is RunStatus.CANCELLED and stopped.counts.created == 200  # one page of range 1
    assert keys_when_stopped == {"items", f"items/partition/{RANGES[0][0]}..{RANGES[0][1]}"}
    assert resumed.status is RunStatus.SUCCEEDED and resumed.counts.created == len(api.inventory) - 200
    first_range_pages = {
        r.query["page"] for r in api.requests if r.query.get("modified_from") == RANGES[0][0]
    }
    assert "1" not in first_range_pages  # resumed after the page committed before the stop
    assert stored_keys(database_url) == {"items"} | {f"items/partition/{lo}..{hi}" for lo, hi in RANGES}
    assert_table_at_equals_source(database_url, api.inventory)


def test_reset_forgets_every_range_checkpoint_and_the_next_run_fetches_all_again(
    api: SampleApi, sqlite_url: str
) -> None:
    config = partitioned(api, sqlite_url)
    batchsync.run("items", config)

    assert batchsync.reset("items", config) is True
    assert stored_keys(sqlite_url) == set()
    api.clear_log()
    again = batchsync.run("items", config)
    assert again.status is RunStatus.SUCCEEDED and range_requests(api) == {lo for lo, _ in RANGES}


def test_the_next_run_after_a_complete_pass_syncs_every_range_again(api: SampleApi, sqlite_url: str) -> None:
    config = partitioned(api, sqlite_url)
    batchsync.run("items", config)
    api.clear_log()

    again = batchsync.run("items", config)

    assert again.status is RunStatus.SUCCEEDED and again.counts.unchanged == len(api.inventory)
    assert range_requests(api) == {lo for lo, _ in RANGES}


@pytest.mark.parametrize(
    ("partition", "said"),
    [
        (
            {"step": "5 fortnights"},
            "'5 fortnights' is no step: use a positive integer or a duration like 12h",
        ),
        ({"step": 0, "start": 0, "end": 10}, "0 is no step"),
        (
            {"end": "2025-01-01T00:00:00Z"},
            "end (2025-01-01T00:00:00Z) must come after start (2026-01-01T00:00:00Z)",
        ),
        ({"start": 10, "end": 10, "step": 1}, "end (10) must come after start (10)"),
        ({"step": 5}, "start, end and step must all be of a kind: moments with a duration step"),
        ({"step": "1s", "end": "2026-02-01T00:00:00Z"}, "step makes 2678400 ranges, more than 10000"),
        ({"param_to": None}, "set param_from and param_to, or param with a template"),
        (
            {**ONE_TEMPLATE, "param_from": None, "param_to": None, "template": "x > {from}"},
            "must contain {to}",
        ),
        (
            {**ONE_TEMPLATE, "param_from": None, "param_to": None, "template": "x"},
            "must contain {from} and {to}",
        ),
        (
            {**ONE_TEMPLATE, "param_from": None, "param_to": None, "template": "{from} {to} {value}"},
            "unknown placeholder {value}; the template takes {from} and {to}",
        ),
        ({"from_template": "x >= {lo}"}, "unknown placeholder {lo}; the template takes {value}"),
        ({"start": "yesterday"}, "'yesterday' is neither an ISO-8601 moment nor an integer"),
    ],
)
def test_a_bad_partition_is_refused_saying_what_to_change(
    partition: dict[str, Any], said: str, api: SampleApi, sqlite_url: str
) -> None:
    config = partitioned(api, sqlite_url)
    block = config["pipelines"]["items"]["source"]["partition"]
    block.update(partition)
    for name in [name for name, value in block.items() if value is None]:
        del block[name]

    with pytest.raises(ConfigError) as refused:
        batchsync.run("items", config)
    assert said in "\n".join(refused.value.problems or [str(refused.value)])


@pytest.mark.parametrize(
    ("source", "said"),
    [
        (
            {"incremental": {"cursor_path": "last_modified_time", "param": "modified_since"}},
            "partition and incremental do not go together (yet)",
        ),
        ({"params": {"modified_from": "2020-01-01"}}, "partition sets modified_from on every request"),
    ],
)
def test_partition_refuses_what_would_undo_its_ranges(
    source: dict[str, Any], said: str, api: SampleApi, sqlite_url: str
) -> None:
    config = partitioned(api, sqlite_url)
    config["pipelines"]["items"]["source"].update(source)

    with pytest.raises(ConfigError) as refused:
        batchsync.run("items", config)
    assert said in "\n".join(refused.value.problems or [str(refused.value)])


def test_on_missing_and_a_param_of_the_ranges_are_refused(api: SampleApi, sqlite_url: str) -> None:
    deleting = partitioned(api, sqlite_url)
    deleting["pipelines"]["items"]["destination"]["on_missing"] = "delete"

    with pytest.raises(ConfigError) as on_missing:
        batchsync.run("items", deleting)
    with pytest.raises(
        ConfigError, match="--param modified_before: each range of items sets modified_before itself"
    ):
        batchsync.run("items", partitioned(api, sqlite_url), params={"modified_before": "2026-01-02"})
    assert "on_missing: delete needs a complete pass over one collection" in "\n".join(
        on_missing.value.problems or []
    )


def test_the_cli_lists_the_ranges_and_status_counts_them(
    api: SampleApi, sqlite_url: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.yaml", partitioned(api, sqlite_url))
    api.settings.faults = FailWhere({"modified_from": RANGES[2][0]}, "server_error")

    ran = runner.invoke(app, ["run", "items", "-c", str(config), "--concurrency", "3"])
    status = runner.invoke(app, ["status", "items", "-c", str(config)])

    assert ran.exit_code == 1, ran.output
    assert f"{RANGES[2][0]}..{RANGES[2][1]}" in ran.output and "1 failed" in ran.output
    assert "in progress" in status.output and "3 ranges / 4" in status.output, status.output
