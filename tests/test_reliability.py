"""Real-world misbehaviour, served by the sample API's switches: faults, rate limits, quotas, pages that
never recover, poison records and a collection that drifts while it is paged; on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

import batchsync
from batchsync.cli import app
from batchsync.models import RunStatus
from fakeapi import (
    Drift,
    FailWhere,
    FaultOptions,
    FaultRates,
    Inventory,
    Quota,
    RandomFaults,
    SampleApi,
    choose_poison,
)
from syncsupport import (
    assert_table_at_equals_source,
    create_table_with_a_price_check,
    expected_rows,
    fetch_dicts,
    pipeline_config,
    table_rows_at,
    url_document,
)

runner = CliRunner(env={"COLUMNS": "200"})


def document(
    api: SampleApi, database_url: str, style: str = "page_number_has_more", **pipeline: Any
) -> dict[str, Any]:
    return url_document(database_url, {"items": {**pipeline_config(api.url, style), **pipeline}})


def run_records(database_url: str) -> list[dict[str, Any]]:
    return fetch_dicts(database_url, "SELECT * FROM batchsync_runs ORDER BY started_at")


SOAK_SEED = 5  # a seed whose ~130 draws include every kind of fault (the test checks that they do)


def test_soak_with_faults_ends_exact_and_counts_every_retry(database_url: str) -> None:
    with SampleApi(Inventory(size=20_000)) as api:
        # The mix; "truncated bodies" come both cut short (2%) and as broken JSON (2%).
        rates = FaultRates(
            server_error=0.10, rate_limited=0.05, hang=0.02, truncated=0.02, invalid_json=0.02, dropped=0.01
        )
        options = FaultOptions(retry_after_seconds=1, hang_seconds=0.6)
        api.settings.faults = RandomFaults(rates, seed=SOAK_SEED, options=options)
        config = document(
            api,
            database_url,
            retry={"max_attempts": 10, "backoff": 0.01, "max_backoff": 2},
            timeout={"connect": 2, "read": 0.25},
        )

        result = batchsync.run("items", config)

        injected = api.faults_injected
        assert result.status is RunStatus.SUCCEEDED, result.error
        assert_table_at_equals_source(database_url, api.inventory)
    assert {"server_error", "rate_limited", "hang", "truncated", "invalid_json", "dropped"} <= set(injected)
    assert result.retries == sum(injected.values())
    assert run_records(database_url)[-1]["retries"] == result.retries


def test_a_configured_rate_is_never_exceeded_against_a_server_enforcing_it(database: Path) -> None:
    with SampleApi(Inventory(size=1_000)) as api:
        api.settings.rate_limit_per_second = 40
        config = document(api, f"sqlite:///{database}", rate_limit={"requests_per_second": 40})
        config["pipelines"]["items"]["source"]["paginator"]["page_size"] = 10
        committed: list[float] = []  # one page per request: commit times follow the request pace

        result = batchsync.run("items", config, on_progress=lambda _: committed.append(time.monotonic()))

        assert result.status is RunStatus.SUCCEEDED
        assert api.rate_limited_count == 0, "the client must stay under the server's limit"
    measured = (len(committed) - 1) / (committed[-1] - committed[0])
    assert 36 <= measured <= 44, f"measured {measured:.1f} requests/s for a limit of 40"


def test_quota_headers_pause_the_sync_instead_of_burning_requests(database_url: str) -> None:
    with SampleApi(Inventory(size=1_000)) as api:
        api.settings.quota = Quota(limit=12, window_seconds=1.0)
        config = document(api, database_url, concurrency=1)  # one request at a time, each after the quota
        config["pipelines"]["items"]["source"]["paginator"]["page_size"] = 50

        result = batchsync.run("items", config)

        assert result.status is RunStatus.SUCCEEDED, result.error
        assert api.quota_refused_count == 0
        assert_table_at_equals_source(database_url, api.inventory)


def test_a_quota_spent_for_longer_than_max_backoff_stops_cleanly_and_says_when_to_resume(
    tmp_path: Path, database_url: str
) -> None:
    with SampleApi(Inventory(size=1_000)) as api:
        api.settings.quota = Quota(limit=5, window_seconds=3600, style="x")
        # one request at a time: the one after the spent quota is the only one refused (with N in
        # flight, up to N are: the quota headers come back with answers already on their way)
        config = document(api, database_url, retry={"max_backoff": 1}, concurrency=1)
        config["pipelines"]["items"]["source"]["paginator"]["page_size"] = 100
        config_file = tmp_path / "c.yaml"
        config_file.write_text(orjson.dumps(config).decode())  # JSON is YAML

        stopped = runner.invoke(app, ["run", "items", "-c", str(config_file)])
        api.settings.quota = None
        resumed = batchsync.run("items", config)

        assert stopped.exit_code == 130, stopped.output
        assert "run again after" in stopped.output.replace("\n", " ")
        assert api.quota_refused_count <= 1
        assert resumed.status is RunStatus.SUCCEEDED and resumed.counts.created == 500
        assert_table_at_equals_source(database_url, api.inventory)
    assert [run["status"] for run in run_records(database_url)] == ["cancelled", "succeeded"]


def test_a_page_that_fails_after_every_retry_stops_with_the_checkpoint_before_it(database_url: str) -> None:
    with SampleApi(Inventory(size=1_000)) as api:
        api.settings.faults = FailWhere({"page": "3"}, "server_error")
        config = document(api, database_url, retry={"max_attempts": 3, "backoff": 0.01})
        config["pipelines"]["items"]["source"]["paginator"]["page_size"] = 100

        failed = batchsync.run("items", config)
        (status,) = batchsync.status("items", config)
        api.settings.faults = RandomFaults(FaultRates(), seed=0)
        api.clear_log()
        resumed = batchsync.run("items", config)

        assert failed.status is RunStatus.FAILED and "gave up after 3 attempts" in (failed.error or "")
        assert failed.counts.created == 200 and status.cursor == 3 and status.pass_records == 200
        assert api.requests[0].query["page"] == "3", "the rerun starts at the failed page"
        assert resumed.counts.created == 800
        assert_table_at_equals_source(database_url, api.inventory)


def test_poison_records_go_to_dead_letters_the_rest_is_written_and_retry_failed_clears_them(
    tmp_path: Path, database_url: str
) -> None:
    inventory = Inventory(size=4_000)
    kinds = ("missing_key", "bad_integer", "bad_decimal", "bad_datetime", "negative_price")
    poison = choose_poison(inventory, fraction=0.005, seed=3, kinds=kinds)
    with SampleApi(inventory) as api:
        config = document(api, database_url)
        config_file = tmp_path / "c.yaml"
        config_file.write_text(orjson.dumps(config).decode())
        create_table_with_a_price_check(config)
        api.settings.poison = poison

        run = runner.invoke(app, ["run", "items", "-c", str(config_file), "--json"])
        summary = orjson.loads(run.stdout)
        listed = orjson.loads(
            runner.invoke(app, ["errors", "items", "-c", str(config_file), "--json"]).stdout
        )
        healthy = {key: row for key, row in expected_rows(inventory).items() if key not in poison}
        table_after_poison = table_rows_at(database_url)

        api.settings.poison = {}  # the source fixes its records
        retried = runner.invoke(app, ["retry-failed", "items", "-c", str(config_file), "--json"])
        after_retry = orjson.loads(retried.stdout)

    assert len(poison) == 20 and set(poison.values()) == set(kinds)
    assert run.exit_code == 1 and summary["status"] == "partial" and summary["failed"] == 20
    assert {detail["key"] for detail in summary["error_details"]} == {
        key for key, kind in poison.items() if kind != "missing_key"
    } | {None}
    assert len(listed) == 20 and all(letter["run_id"] == summary["run_id"] for letter in listed)
    assert any("price must not be negative" in letter["error"] for letter in listed)
    assert table_after_poison == healthy, "every healthy record written, no poisoned one"
    assert retried.exit_code == 0 and after_retry["dead_letters_remaining"] == 0
    assert_table_at_equals_source(database_url, inventory)


def test_on_record_error_fail_stops_at_the_first_bad_record_with_nothing_of_its_batch_written(
    database_url: str,
) -> None:
    inventory = Inventory(size=1_000)
    bad_id = inventory.items()[250]["item_id"]
    with SampleApi(inventory) as api:
        api.settings.poison = {bad_id: "bad_integer"}
        config = document(api, database_url, on_record_error="fail")
        config["pipelines"]["items"]["source"]["paginator"]["page_size"] = 100

        result = batchsync.run("items", config)

    assert result.status is RunStatus.FAILED
    assert bad_id in (result.error or "") and "stock_quantity" in (result.error or "")
    assert result.counts.created == 200 and len(table_rows_at(database_url)) == 200


def test_on_record_error_fail_keeps_the_batches_of_the_page_before_the_bad_record(database_url: str) -> None:
    inventory = Inventory(size=1_000)
    bad_id = inventory.items()[250]["item_id"]  # page 3 of 100-record pages, its third batch of 20
    with SampleApi(inventory) as api:
        api.settings.poison = {bad_id: "bad_integer"}
        config = document(api, database_url, on_record_error="fail", db_batch_size=20)
        config["pipelines"]["items"]["source"]["paginator"]["page_size"] = 100

        result = batchsync.run("items", config)
        (status,) = batchsync.status("items", config)

    assert result.status is RunStatus.FAILED
    assert result.counts.created == 240 and len(table_rows_at(database_url)) == 240
    assert (status.cursor, status.skip_records) == (3, 40)
    assert result.pages == 3, "pages are counted even when the run fails"


@pytest.mark.parametrize("change", ["insert", "delete"])
def test_drift_is_reported_with_its_count_in_the_summary_json_and_run_record(
    change: str, tmp_path: Path, database_url: str
) -> None:
    with SampleApi(Inventory(size=1_000)) as api:
        api.settings.drift = Drift(every_pages=3, stop_after=4, **{change: 5})
        # Pages fetched one after another, so the drift events fall between the pages the counts expect.
        config = document(api, database_url, style="offset_has_more", concurrency=1)
        config["pipelines"]["items"]["source"]["paginator"]["limit"] = 50
        config_file = tmp_path / "c.yaml"
        config_file.write_text(orjson.dumps(config).decode())

        result = runner.invoke(app, ["run", "items", "-c", str(config_file), "--json"])

    summary = orjson.loads(result.stdout)
    expected = {"inserted": 20, "deleted": 0} if change == "insert" else {"inserted": 0, "deleted": 20}
    assert summary["drift"] == expected
    assert any("offset drift" in warning and "on_drift: repass" in warning for warning in summary["warnings"])
    record = run_records(database_url)[-1]
    assert orjson.loads(record["details"])["drift"] == expected


@pytest.mark.parametrize("change", ["insert", "delete"])
def test_on_drift_repass_misses_nothing_once_the_drift_stops(change: str, database_url: str) -> None:
    inventory = Inventory(size=1_000)
    original = set(expected_rows(inventory))
    with SampleApi(inventory) as api:
        api.settings.drift = Drift(every_pages=3, stop_after=4, **{change: 5})
        config = document(api, database_url, style="offset_has_more", on_drift="repass")
        config["pipelines"]["items"]["source"]["paginator"]["limit"] = 50

        result = batchsync.run("items", config)

        synced = set(table_rows_at(database_url))
        source = set(expected_rows(inventory))
    assert result.status is RunStatus.SUCCEEDED and result.drift.is_drift
    assert source <= synced, f"{len(source - synced)} records missed"
    # Deleted records were synced before they vanished; removing them is destination.on_missing's job.
    assert synced - source == (original - source)


def test_dead_lettered_records_on_page_one_are_not_mistaken_for_drift(database_url: str) -> None:
    inventory = Inventory(size=300)
    with SampleApi(inventory) as api:
        api.settings.poison = {item["item_id"]: "bad_decimal" for item in inventory.items()[:5]}
        config = document(api, database_url, style="offset_has_more")
        config["pipelines"]["items"]["source"]["paginator"]["limit"] = 50

        result = batchsync.run("items", config)

    assert result.status is RunStatus.PARTIAL and len(result.dead_letters) == 5
    assert not result.drift.is_drift and not result.warnings
