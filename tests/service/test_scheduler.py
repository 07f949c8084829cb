"""The scheduler inside `batchsync serve`, on real time: a schedule fires runs on its own, a tick while
the pipeline runs is recorded as skipped, a time missed while the service was down is caught up once,
and two `serve` processes on one database run each tick once; on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from batchsync.config import parse_config
from batchsync.config.schedule import ScheduleConfig
from batchsync.errors import ConfigError
from fakeapi import Inventory, SampleApi
from servicesupport import ADMIN, RunningService, wait_until
from syncsupport import (
    assert_table_at_equals_source,
    execute,
    fetch_all,
    pipeline_config,
    url_document,
    write_config,
)

EVERY_SECOND = "* * * * * *"


def scheduled(api: SampleApi, database_url: str, schedule: Any) -> dict[str, Any]:
    pipeline = pipeline_config(api.url)
    pipeline["schedule"] = schedule
    return url_document(database_url, {"items": pipeline})


def ticks(database_url: str) -> list[tuple[Any, ...]]:
    return fetch_all(
        database_url,
        "SELECT scheduled_for, outcome, run_id, reason FROM batchsync_schedule_ticks ORDER BY scheduled_for",
    )


def test_a_schedule_runs_the_pipeline_by_itself_and_shows_the_next_time(database_url: str) -> None:
    inventory = Inventory(size=120)
    with (
        SampleApi(inventory) as api,
        RunningService(scheduled(api, database_url, EVERY_SECOND)) as served,
        served.client() as client,
    ):
        run = wait_until(
            lambda: [
                r
                for r in client.get("/api/runs", params={"trigger": "scheduled"}).json()["items"]
                if r["status"] == "succeeded"
            ]
        )[0]
        detail = client.get("/api/pipelines/items").json()
        health = client.get("/health").json()

    assert run["trigger"] == "scheduled" and run["created"] + run["unchanged"] == 120
    assert_table_at_equals_source(database_url, inventory)
    started = [tick for tick in ticks(database_url) if tick[1] == "started"]
    assert run["run_id"] in {tick[2] for tick in started}
    assert detail["schedule"]["cron"] == EVERY_SECOND and detail["schedule"]["recent_ticks"]
    assert datetime.fromisoformat(detail["next_run_at"]) > datetime.fromisoformat(run["started_at"])
    assert health["scheduler"] == "running"


def test_a_tick_while_the_pipeline_runs_is_recorded_as_skipped_not_failed(database_url: str) -> None:
    with SampleApi(Inventory(size=600)) as api:
        api.settings.latency_seconds = 0.05
        document = scheduled(api, database_url, EVERY_SECOND)
        document["pipelines"]["items"]["source"]["paginator"]["page_size"] = 20
        document["pipelines"]["items"]["concurrency"] = 1
        with RunningService(document):
            wait_until(lambda: any(tick[1] == "skipped" for tick in ticks(database_url)), timeout=30)

    skipped = [tick for tick in ticks(database_url) if tick[1] == "skipped"]
    assert all(tick[2] is None and "already running" in tick[3] for tick in skipped)
    statuses = {status for (status,) in fetch_all(database_url, "SELECT status FROM batchsync_runs")}
    assert "failed" not in statuses


@pytest.mark.parametrize(
    ("catch_up", "last_tick_days_ago", "expected_runs"), [(True, 2, 1), (False, 2, 0), (True, 0, 0)]
)
def test_catch_up_runs_a_time_missed_while_the_service_was_down_once(
    database_url: str, catch_up: bool, last_tick_days_ago: int, expected_runs: int
) -> None:
    schedule = {"cron": "0 2 * * *", "timezone": "Europe/Berlin", "catch_up": catch_up}
    missed = ScheduleConfig.model_validate(schedule).latest_at_or_before(datetime.now(UTC))
    last = missed - timedelta(days=last_tick_days_ago)
    with SampleApi(Inventory(size=50)) as api:
        document = scheduled(api, database_url, schedule)
        with RunningService(document) as served:  # makes the tables; no tick is due for hours
            pass
        stamp = last.astimezone(UTC).isoformat(timespec="microseconds")
        execute(
            database_url,
            "INSERT INTO batchsync_schedule_ticks (pipeline, scheduled_for, fired_at, outcome)"
            " VALUES ('items', :at, :at, 'started')",
            {"at": stamp},
        )
        with RunningService(document) as served, served.client() as client:
            if expected_runs:
                wait_until(lambda: client.get("/api/pipelines/items").json()["state"] == "complete")
            else:
                time.sleep(1.5)
            runs = client.get("/api/runs").json()["items"]

    assert len(runs) == expected_runs
    if expected_runs:
        assert runs[0]["trigger"] == "scheduled"
        [caught_up] = [tick for tick in ticks(database_url) if tick[1] == "started" and tick[2]]
        assert datetime.fromisoformat(caught_up[0]) == missed


def test_two_serve_processes_on_one_database_run_each_tick_once(database_url: str, tmp_path: Path) -> None:
    inventory = Inventory(size=40)
    with SampleApi(inventory) as api:
        config = write_config(tmp_path / "batchsync.yml", scheduled(api, database_url, "* * * * * */2"))
        environment = {**os.environ, "BATCHSYNC_ADMIN_TOKEN": ADMIN}
        services = [
            subprocess.Popen(
                [sys.executable, "-m", "batchsync", "serve", "--config", str(config), "--port", str(port)],
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for port in _free_ports(2)
        ]
        try:
            wait_until(
                lambda: len([t for t in _safe_ticks(database_url) if t[1] == "started"]) >= 3, timeout=40
            )
        finally:
            for service in services:
                service.send_signal(signal.SIGTERM)
            for service in services:
                service.wait(timeout=30)

    found = ticks(database_url)
    times = [tick[0] for tick in found]
    assert len(times) == len(set(times)), "each scheduled time claimed once"
    started_ids = [tick[2] for tick in found if tick[1] == "started"]
    runs = fetch_all(database_url, "SELECT run_id, status FROM batchsync_runs WHERE trigger = 'scheduled'")
    run_ids = [run_id for run_id, _ in runs]
    assert len(set(run_ids)) == len(run_ids) and set(run_ids) <= set(started_ids), "each run has its own tick"
    # A tick started just before a service was stopped may have a run that never began: one per service.
    assert len(started_ids) - len(run_ids) <= 2
    assert {status for _, status in runs} <= {"succeeded", "cancelled"}
    assert_table_at_equals_source(database_url, inventory)


def test_a_bad_schedule_is_a_config_error_naming_the_field() -> None:
    for schedule, problem in (
        ("61 * * * *", "not a cron expression"),
        ({"cron": "0 2 * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
    ):
        with pytest.raises(ConfigError) as raised:
            parse_config(
                {"pipelines": {"items": {**pipeline_config("http://127.0.0.1:9"), "schedule": schedule}}}
            )
        assert "schedule" in "\n".join(raised.value.problems) and problem in "\n".join(raised.value.problems)


def _safe_ticks(database_url: str) -> list[tuple[Any, ...]]:
    try:
        return ticks(database_url)
    except Exception:  # the tables are not made yet
        return []


def _free_ports(count: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports
