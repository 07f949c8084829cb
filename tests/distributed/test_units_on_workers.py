"""Every kind of unit on real workers: a partitioned pull's ranges, a lookup's shards and a plain pull
end exact across three workers; a cancel through the control API stops every worker's unit at a batch
boundary with checkpoints saved, and a rerun completes; four workers sharing one rate limit through
Redis never get a 429 from a server enforcing that same limit."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from typer.testing import CliRunner

import batchsync
from batchsync.cli import app
from batchsync.models import EntityStatus, RunStatus
from distsupport import Workers, accounts_with_pages, execution, expected_rows, fanout_config, table_rows
from fakeapi import KeyService, SampleApi
from lookupsupport import lookup_config, make_keys_table, office_keys
from lookupsupport import table as keys_table
from servicesupport import RunningService, wait_until
from syncsupport import assert_table_at_equals_source, fetch_all, pipeline_config, url_document

PARTITION = {
    "param_from": "modified_from",
    "param_to": "modified_before",
    "start": "2026-01-01T00:00:00Z",
    "end": "2026-01-01T00:17:00Z",
    "step": "2m",
}


def distributed(document: dict[str, Any], redis_url: str) -> dict[str, Any]:
    return {**document, "execution": execution(redis_url)}


def unit_workers(url: str) -> dict[str, str]:
    return dict(fetch_all(url, "SELECT unit_id, worker FROM batchsync_units"))


def test_a_partitioned_pull_runs_its_ranges_across_three_workers_and_ends_exact(
    api: SampleApi, postgres_url: str, redis_url: str, workers: Workers
) -> None:
    api.settings.latency_seconds = 0.02
    pipeline = pipeline_config(api.url, partition=PARTITION)
    config = workers.write_config(distributed(url_document(postgres_url, {"items": pipeline}), redis_url))
    workers.start(config, 3)

    result = batchsync.run("items", config)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert len(result.entities) == 9 and {each.status for each in result.entities} == {EntityStatus.SUCCEEDED}
    assert result.counts.created == len(api.inventory) and result.is_pass_complete
    assert_table_at_equals_source(postgres_url, api.inventory)
    assert len(set(unit_workers(postgres_url).values())) >= 2  # the ranges were spread over the workers
    assert batchsync.status("items", config)[0].is_complete


def test_a_plain_pull_is_one_unit_on_a_worker(
    api: SampleApi, postgres_url: str, redis_url: str, workers: Workers
) -> None:
    config = workers.write_config(
        distributed(url_document(postgres_url, {"items": pipeline_config(api.url)}), redis_url)
    )
    workers.start(config, 1)

    result = batchsync.run("items", config)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.counts.created == len(api.inventory) and result.is_pass_complete
    assert_table_at_equals_source(postgres_url, api.inventory)
    assert list(unit_workers(postgres_url)) == ["pull"]
    runs = fetch_all(postgres_url, "SELECT status, created FROM batchsync_runs")
    assert runs == [("succeeded", len(api.inventory))]  # one run, one record: the worker's counts in it


def test_a_sharded_lookup_runs_across_three_workers_and_ends_exact(
    postgres_url: str, redis_url: str, workers: Workers
) -> None:
    with SampleApi(keys=KeyService(size=1_500, seed=4)) as key_api:
        make_keys_table(postgres_url, key_api)
        document = lookup_config(postgres_url, key_api, shard_size=200)
        config = workers.write_config(distributed(document, redis_url))
        workers.start(config, 3)

        result = batchsync.run("key_refresh", config)

        office = office_keys(key_api)
        assert result.status is RunStatus.SUCCEEDED, result.error
        assert result.counts.updated == len(office)
        assert len(result.entities) == -(-len(office) // 200)  # shards of 200 keys
        rows = keys_table(postgres_url)
        for key, answer in office.items():
            assert rows[key][1:4] == (answer["remaining"], answer["blocked"], answer["errorcode"])
        asked = [key for r in key_api.requests for key in r.query.get("keys", "").split(",") if key]
        assert sorted(asked) == sorted(office)  # every key asked once, none twice
        assert len(set(unit_workers(postgres_url).values())) >= 2


def test_a_cancel_through_the_api_stops_every_workers_unit_and_a_rerun_completes(
    api: SampleApi, postgres_url: str, redis_url: str, workers: Workers
) -> None:
    accounts = accounts_with_pages(12, 10)
    api.settings.latency_seconds = 0.1
    document = fanout_config(postgres_url, redis_url, api, accounts)
    config = workers.write_config(document)
    workers.start(config, 3)
    with RunningService(document) as service, service.client() as client:
        started = client.post("/api/pipelines/bank_sync/runs", json={})
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        wait_until(lambda: len(_running_units(postgres_url)) == 3, timeout=60)
        wait_until(lambda: _committed_pages(api) >= 10, timeout=60)
        cancelled = client.post(f"/api/runs/{run_id}/cancel")
        assert cancelled.status_code in (200, 202), cancelled.text
        run = wait_until(lambda: _ended(client, run_id), timeout=60)
    assert run["status"] == "cancelled", run
    units = dict(fetch_all(postgres_url, "SELECT unit_id, status FROM batchsync_units"))
    assert "running" not in units.values() and "interrupted" in units.values()
    assert set(units.values()) <= {"done", "interrupted"}
    # the stopped children kept their checkpoints, mid-pass
    started_children = fetch_all(
        postgres_url, "SELECT pipeline FROM batchsync_checkpoints WHERE pipeline LIKE 'bank_sync/%'"
    )
    assert started_children

    again = batchsync.run("bank_sync", config)
    assert again.status is RunStatus.SUCCEEDED, again.error
    assert table_rows(postgres_url) == expected_rows(api, accounts)


def _running_units(url: str) -> list[tuple[Any, ...]]:
    try:
        return fetch_all(url, "SELECT unit_id FROM batchsync_units WHERE status = 'running'")
    except Exception:  # the table is made by the run's first migration
        return []


def _committed_pages(api: SampleApi) -> int:
    return sum(1 for entry in api.requests if entry.path.endswith("/transactions") and entry.status == 200)


def _ended(client: Any, run_id: str) -> dict[str, Any] | None:
    run = client.get(f"/api/runs/{run_id}").json()
    return run if run["status"] != "running" else None


@pytest.mark.parametrize("rate", [20.0])
def test_four_workers_of_four_units_each_keep_to_one_shared_rate_limit(
    rate: float, api: SampleApi, postgres_url: str, redis_url: str, workers: Workers
) -> None:
    accounts = accounts_with_pages(24, 4)
    api.settings.rate_limit_per_second = rate  # a bucket of `rate` tokens: a client at `rate`/s fits
    document = fanout_config(
        postgres_url, redis_url, api, accounts, rate_limit={"requests_per_second": rate}, concurrency=4
    )
    config = workers.write_config(document)
    workers.start(config, 4, concurrency=4)
    began = time.monotonic()

    result = batchsync.run("bank_sync", config)

    elapsed = time.monotonic() - began
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert api.rate_limited_count == 0
    assert table_rows(postgres_url) == expected_rows(api, accounts)
    requests = len(api.requests)
    assert requests / elapsed <= rate * 1.05 + 1  # never faster than the one shared rate


def test_a_second_run_of_a_pipeline_running_on_the_workers_is_refused_by_its_lease(
    api: SampleApi, postgres_url: str, redis_url: str, workers: Workers
) -> None:
    """The run's own process holds the pipeline's lease while its units are on the workers, as a local
    run does: a second run, from anywhere, is refused."""
    accounts = accounts_with_pages(6, 5)
    api.settings.latency_seconds = 0.05
    config = workers.write_config(fanout_config(postgres_url, redis_url, api, accounts))
    workers.start(config, 2)
    results: list[Any] = []
    first = threading.Thread(target=lambda: results.append(batchsync.run("bank_sync", config)))
    first.start()
    wait_until(lambda: _running_units(postgres_url), timeout=30)
    with pytest.raises(batchsync.RunConflictError):
        batchsync.run("bank_sync", config)
    first.join(timeout=120)
    assert results and results[0].status is RunStatus.SUCCEEDED


def test_batchsync_cancel_stops_a_partitioned_pull_on_the_workers_and_a_rerun_finishes_the_pass(
    api: SampleApi, postgres_url: str, redis_url: str, workers: Workers
) -> None:
    api.settings.latency_seconds = 0.3
    pipeline = pipeline_config(api.url, partition={**PARTITION, "step": "1m"})  # 17 ranges of 60 items
    pipeline["source"]["paginator"]["page_size"] = 20  # 3 pages and a drift check each: about 1.2 s
    config = workers.write_config(distributed(url_document(postgres_url, {"items": pipeline}), redis_url))
    workers.start(config, 3)
    run_id = str(uuid.uuid4())
    results: list[Any] = []
    runner = threading.Thread(target=lambda: results.append(batchsync.run("items", config, run_id=run_id)))
    runner.start()
    wait_until(lambda: _done_units(postgres_url) >= 3, timeout=60)
    outcome = CliRunner().invoke(app, ["cancel", run_id, "--config", str(config)])
    assert outcome.exit_code == 0, outcome.output
    runner.join(timeout=60)

    first = results[0]
    assert first.status is RunStatus.CANCELLED
    done_first = [each.id for each in first.entities if each.status is EntityStatus.SUCCEEDED]
    assert 3 <= len(done_first) < 17
    statuses = set(dict(fetch_all(postgres_url, "SELECT unit_id, status FROM batchsync_units")).values())
    assert statuses <= {"done", "interrupted"} and "interrupted" in statuses

    again = batchsync.run("items", config)
    assert again.status is RunStatus.SUCCEEDED, again.error
    skipped = [each.id for each in again.entities if each.status is EntityStatus.SKIPPED]
    assert sorted(skipped) == sorted(done_first)  # the ranges done before are not fetched again
    assert_table_at_equals_source(postgres_url, api.inventory)


def _done_units(url: str) -> int:
    try:
        return len(fetch_all(url, "SELECT unit_id FROM batchsync_units WHERE status = 'done'"))
    except Exception:  # the table is made by the run's first migration
        return 0
