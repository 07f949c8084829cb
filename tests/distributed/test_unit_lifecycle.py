"""A unit's life on the workers: its task's message names only the pipeline, the run and the unit; a
cancel keeps queued units from ever starting; a second copy of a running unit's task waits for the
unit's lease and then finds it done; a failing entity makes the run partial while the others go on; a
worker whose config lacks the pipeline fails the unit with a readable error instead of leaving it
waiting; the run's progress comes from the run's row, which the workers keep up to date."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from typing import Any

import redis

import batchsync
from batchsync import operations
from batchsync.config.execution import ExecutionConfig
from batchsync.distributed.celeryapp import send_unit
from batchsync.engine import Progress
from batchsync.models import EntityStatus, RunStatus
from distsupport import Workers, accounts_with_pages, expected_rows, fanout_config, table_rows
from fakeapi import SampleApi
from servicesupport import wait_until
from syncsupport import fetch_all

LISTING_SECRET = "listing-secret-0123456789abcdef"


def unit_rows(url: str) -> dict[str, tuple[str, int]]:
    return {
        unit: (status, attempts)
        for unit, status, attempts in fetch_all(url, "SELECT unit_id, status, attempts FROM batchsync_units")
    }


def running_units(url: str) -> list[str]:
    try:
        return [
            row[0] for row in fetch_all(url, "SELECT unit_id FROM batchsync_units WHERE status = 'running'")
        ]
    except Exception:  # the table is made by the run's first migration
        return []


def start_run(config: Any, run_id: str, **options: Any) -> tuple[threading.Thread, list[Any]]:
    results: list[Any] = []
    thread = threading.Thread(
        target=lambda: results.append(batchsync.run("bank_sync", config, run_id=run_id, **options))
    )
    thread.start()
    return thread, results


def test_a_task_names_only_ids_and_a_cancel_keeps_queued_units_from_ever_starting(
    api: SampleApi, postgres_url: str, redis_url: str, workers: Workers
) -> None:
    accounts = accounts_with_pages(3, 2)
    document = fanout_config(postgres_url, redis_url, api, accounts)
    document["pipelines"]["bank_sync"]["source"]["entities"]["api"]["headers"] = {"X-Api-Key": LISTING_SECRET}
    config = workers.write_config(document)
    run_id = str(uuid.uuid4())
    thread, results = start_run(config, run_id)  # no worker yet: the units wait in the queue
    broker = redis.Redis.from_url(redis_url)
    messages = wait_until(
        lambda: broker.lrange("batchsync", 0, -1) if broker.llen("batchsync") == 3 else None
    )

    secrets = [LISTING_SECRET.encode()] + [api.accounts.token_for(account).encode() for account in accounts]
    named = []
    for raw in messages:
        assert not any(secret in raw for secret in secrets)
        args, kwargs, _embed = json.loads(base64.b64decode(json.loads(raw)["body"]))
        assert kwargs == {} and args[:2] == ["bank_sync", run_id]
        named.append(args[2])
    assert sorted(named) == sorted(f"entity:{account}" for account in accounts)

    assert operations.cancel(run_id, config).outcome.value == "requested"
    thread.join(timeout=60)
    assert results and results[0].status is RunStatus.CANCELLED
    assert set(unit_rows(postgres_url).values()) == {("interrupted", 0)}

    api.clear_log()
    workers.start(config, 1)  # takes the three tasks, finds their units ended, does nothing
    wait_until(lambda: broker.llen("batchsync") == 0 and not broker.hlen("unacked"), timeout=30)
    assert not [entry for entry in api.requests if entry.path.endswith("/transactions")]
    assert set(unit_rows(postgres_url).values()) == {("interrupted", 0)}


def test_a_second_copy_of_a_running_units_task_waits_for_the_lease_and_then_finds_the_unit_done(
    api: SampleApi, postgres_url: str, redis_url: str, workers: Workers
) -> None:
    accounts = accounts_with_pages(2, 10)
    api.settings.latency_seconds = 0.1
    config = workers.write_config(fanout_config(postgres_url, redis_url, api, accounts))
    workers.start(config, 3)  # one more worker than units: the copy is taken at once
    run_id = str(uuid.uuid4())
    thread, results = start_run(config, run_id)
    unit = wait_until(lambda: running_units(postgres_url), timeout=30)[0]
    send_unit(
        ExecutionConfig(backend="celery", broker=redis_url, visibility_timeout=5), "bank_sync", run_id, unit
    )
    thread.join(timeout=120)

    assert results and results[0].status is RunStatus.SUCCEEDED, results[0].error
    assert table_rows(postgres_url) == expected_rows(api, accounts)
    assert set(unit_rows(postgres_url).values()) == {("done", 1)}  # the copy never took the unit
    assert any("waiting for its lease" in workers.log(number) for number in range(3))
    pages = [
        (entry.path, entry.query.get("page"))
        for entry in api.requests
        if entry.path.endswith("/transactions")
    ]
    assert len(pages) == len(set(pages)) + len(accounts)  # only each child's drift check reads page 1 twice


def test_a_failing_entity_makes_the_run_partial_and_progress_comes_from_the_runs_row(
    api: SampleApi, postgres_url: str, redis_url: str, workers: Workers
) -> None:
    accounts = accounts_with_pages(4, 3)
    api.settings.revoked_accounts = {accounts[1]}  # its own token is refused with a 401
    config = workers.write_config(fanout_config(postgres_url, redis_url, api, accounts))
    workers.start(config, 2)
    reports: list[Progress] = []

    result = batchsync.run("bank_sync", config, on_progress=reports.append)

    assert result.status is RunStatus.PARTIAL, result.error
    statuses = {entity.id: entity.status for entity in result.entities}
    assert statuses == {
        account: EntityStatus.FAILED if account == accounts[1] else EntityStatus.SUCCEEDED
        for account in accounts
    }
    assert "401" in (next(e.error for e in result.entities if e.id == accounts[1]) or "")
    others = tuple(account for account in accounts if account != accounts[1])
    assert table_rows(postgres_url) == expected_rows(api, others)
    assert reports and reports[-1].entities_done == 4 == reports[-1].entities_total
    assert reports[-1].counts.created == len(expected_rows(api, others)) == result.counts.created
    row = fetch_all(postgres_url, "SELECT status, created FROM batchsync_runs")
    assert row == [("partial", result.counts.created)]


def test_a_worker_whose_config_lacks_the_pipeline_fails_the_unit_saying_so(
    api: SampleApi, postgres_url: str, redis_url: str, workers: Workers
) -> None:
    accounts = accounts_with_pages(2, 2)
    document = fanout_config(postgres_url, redis_url, api, accounts)
    config = workers.write_config(document)
    elsewhere = config.with_name("worker.yaml")
    elsewhere.write_text(
        json.dumps({**document, "pipelines": {"other": document["pipelines"]["bank_sync"]}}), encoding="utf-8"
    )
    workers.start(elsewhere, 1)

    result = batchsync.run("bank_sync", config)

    assert result.status is RunStatus.FAILED
    assert all("no pipeline named 'bank_sync'" in (entity.error or "") for entity in result.entities)
    assert set(status for status, _ in unit_rows(postgres_url).values()) == {"failed"}


def test_units_whose_tasks_the_broker_lost_are_queued_again_and_the_run_completes(
    api: SampleApi, postgres_url: str, redis_url: str, workers: Workers
) -> None:
    accounts = accounts_with_pages(3, 2)
    document = fanout_config(postgres_url, redis_url, api, accounts)
    document["execution"]["visibility_timeout"] = 2
    config = workers.write_config(document)
    thread, results = start_run(config, str(uuid.uuid4()))
    broker = redis.Redis.from_url(redis_url)
    wait_until(lambda: broker.llen("batchsync") == 3)
    broker.flushall()  # Redis restarted without its data: the three tasks are gone
    workers.start(config, 1)
    thread.join(timeout=60)

    assert results, "the run did not end: its lost units were not queued again"
    assert results[0].status is RunStatus.SUCCEEDED, results[0].error
    assert table_rows(postgres_url) == expected_rows(api, accounts)
    assert {status for status, _ in unit_rows(postgres_url).values()} == {"done"}
