"""The control API over HTTP on a real uvicorn server and real databases: every route, starting runs in
the background and with wait=true, live progress, 409 for a pipeline already running (here or in a CLI
in another process), cancel of either, a fan-out's entities, a lookup with a filter, and errors in one
shape; on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from batchsync.service.child import RUN_NICENESS
from batchsync.state.cancels import CANCELLED_ON_REQUEST
from fakeapi import Inventory, SampleApi
from lookupsupport import API_KEY, lookup_config, make_keys_table
from servicesupport import RunningService, wait_until
from syncsupport import (
    assert_table_at_equals_source,
    fetch_all,
    pipeline_config,
    url_document,
    write_config,
)
from test_fanout import fanout_config
from test_fanout import make_tables as make_fanout_tables


def slow_pull(api: SampleApi, database_url: str, latency: float = 0.03) -> dict[str, Any]:
    """250 pages one at a time, 30 ms each: long enough to watch and to cancel."""
    api.settings.latency_seconds = latency
    pipeline = pipeline_config(api.url)
    pipeline["source"]["paginator"]["page_size"] = 20
    pipeline["concurrency"] = 1
    return url_document(database_url, {"items": pipeline})


def run_processes() -> list[int]:
    """The pids of this test process's children running `python -m batchsync.service.child`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and b"batchsync.service.child" in command:
            found.append(int(entry.name))
    return found


def run_priorities() -> list[int]:
    """The niceness of each run process of this test process still alive (one from an earlier test may
    end between being listed and being asked)."""
    priorities = []
    for pid in run_processes():
        with contextlib.suppress(ProcessLookupError):
            priorities.append(os.getpriority(os.PRIO_PROCESS, pid))
    return priorities


def run_status(client: httpx.Client, run_id: str) -> dict[str, Any]:
    answer = client.get(f"/api/runs/{run_id}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_a_run_started_with_wait_answers_its_full_result_and_every_read_route_shows_it(
    database_url: str,
) -> None:
    inventory = Inventory(size=450)
    with (
        SampleApi(inventory) as api,
        RunningService(url_document(database_url, {"items": pipeline_config(api.url)})) as served,
        served.client() as client,
    ):
        health = client.get("/health").json()
        assert health["database"] == "reachable" and health["runs_in_progress"] == 0
        [listed] = client.get("/api/pipelines").json()["items"]
        assert (listed["name"], listed["kind"], listed["state"]) == ("items", "rest", "never synced")

        answer = client.post("/api/pipelines/items/runs", params={"wait": "true"}, json={})
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert (result["status"], result["created"], result["trigger"]) == ("succeeded", 450, "api")
        assert_table_at_equals_source(database_url, inventory)

        detail = client.get("/api/pipelines/items").json()
        assert detail["state"] == "complete" and detail["table_rows"] == 450
        assert detail["checkpoint"]["is_complete"] and detail["last_run"]["run_id"] == result["run_id"]
        assert detail["running"] is None and detail["dead_letters"] == 0
        run = run_status(client, result["run_id"])
        assert (run["status"], run["created"], run["pages"]) == ("succeeded", 450, result["pages"])
        history = client.get("/api/runs", params={"pipeline": "items", "status": "succeeded"}).json()
        assert [item["run_id"] for item in history["items"]] == [result["run_id"]]
        assert client.get("/api/runs", params={"status": "failed"}).json()["items"] == []
        stats = client.get("/api/pipelines/items/stats", params={"stale_after": "1h"}).json()
        assert (stats["total_rows"], stats["stale_rows"], stats["synced_last_run"]) == (450, 0, 450)
        assert client.get("/api/pipelines/items/errors").json() == {
            "pipeline": "items",
            "total": 0,
            "items": [],
            "next_before_id": None,
        }

        again = client.post("/api/pipelines/items/retry-failed", params={"wait": "true"}).json()
        assert (again["status"], again["unchanged"], again["dead_letters_remaining"]) == ("succeeded", 450, 0)
        reset = client.post("/api/pipelines/items/reset").json()
        assert reset == {"pipeline": "items", "had_checkpoint": True}
        assert client.get("/api/pipelines/items").json()["state"] == "not started"
        metrics = client.get("/metrics").text
        assert 'batchsync_runs_total{pipeline="items",status="succeeded"} 2.0' in metrics
        assert 'batchsync_records_total{outcome="created",pipeline="items"} 450.0' in metrics
        assert 'batchsync_records_total{outcome="unchanged",pipeline="items"} 450.0' in metrics
        assert 'batchsync_table_rows{pipeline="items",table="items"} 450.0' in metrics


def test_a_background_run_shows_live_progress_answers_409_to_a_second_start_and_stops_on_cancel(
    database_url: str,
) -> None:
    inventory = Inventory(size=5_000)
    with (
        SampleApi(inventory) as api,
        RunningService(slow_pull(api, database_url)) as served,
        served.client() as client,
    ):
        started = client.post("/api/pipelines/items/runs", json={"trigger": "manual"})
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        assert started.headers["location"] == f"/api/runs/{run_id}"

        moving = wait_until(
            lambda: run_status(client, run_id).get("created", 0) > 0 and run_status(client, run_id)
        )
        later = wait_until(
            lambda: (seen := run_status(client, run_id))["created"] > moving["created"] and seen
        )
        assert later["status"] == "running" and later["trigger"] == "manual"
        assert later["progress"]["records"] == later["created"] and later["progress"]["rate_per_second"] > 0
        priorities = run_priorities()  # the run's own process, niced so the API is answered first
        assert priorities and set(priorities) == {min(19, os.getpriority(os.PRIO_PROCESS, 0) + RUN_NICENESS)}
        pipeline = client.get("/api/pipelines/items").json()
        assert pipeline["state"] == "running" and pipeline["running"]["run_id"] == run_id

        second = client.post("/api/pipelines/items/runs")
        assert second.status_code == 409, second.text
        assert second.json()["error"]["code"] == "conflict"
        assert second.json()["error"]["details"]["run_id"] == run_id
        assert client.post("/api/pipelines/items/reset").status_code == 409

        cancelled = client.post(f"/api/runs/{run_id}/cancel")
        assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancel requested"
        ended = wait_until(lambda: (seen := run_status(client, run_id))["status"] != "running" and seen)
        assert (ended["status"], ended["error"]) == ("cancelled", CANCELLED_ON_REQUEST)
        [(rows,)] = fetch_all(database_url, "SELECT count(*) FROM items")
        assert 0 < rows < 5_000 and ended["created"] == rows
        assert client.get("/api/pipelines/items").json()["checkpoint"]["pass_records"] == rows
        assert client.post(f"/api/runs/{run_id}/cancel").status_code == 409

        api.settings.latency_seconds = 0.0
        finished = client.post("/api/pipelines/items/runs", params={"wait": "true"}).json()
        assert (finished["status"], finished["created"]) == ("succeeded", 5_000 - rows)
        assert_table_at_equals_source(database_url, inventory)


def test_a_run_started_by_the_cli_in_another_process_gets_409_and_is_cancelled_over_http(
    database_url: str, tmp_path: Path
) -> None:
    inventory = Inventory(size=5_000)
    with SampleApi(inventory) as api:
        document = slow_pull(api, database_url)
        config_file = write_config(tmp_path / "batchsync.yml", document)
        with RunningService(document) as served, served.client() as client:
            other = subprocess.Popen(
                [sys.executable, "-m", "batchsync", "run", "items", "--config", str(config_file), "--quiet"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            try:
                running = wait_until(lambda: client.get("/api/pipelines/items").json()["running"])
                run_id = running["run_id"]
                assert running["trigger"] == "manual"
                refused = client.post("/api/pipelines/items/runs")
                assert refused.status_code == 409 and refused.json()["error"]["details"]["run_id"] == run_id

                assert client.post(f"/api/runs/{run_id}/cancel").status_code == 202
                _, err = other.communicate(timeout=30)
            finally:
                other.kill()
            assert other.returncode == 130, err.decode()
            ended = run_status(client, run_id)
            assert (ended["status"], ended["error"]) == ("cancelled", CANCELLED_ON_REQUEST)

            api.settings.latency_seconds = 0.0
            assert (
                client.post("/api/pipelines/items/runs", params={"wait": "true"}).json()["status"]
                == "succeeded"
            )
        assert_table_at_equals_source(database_url, inventory)


def test_a_fanout_run_shows_each_entity_with_its_reason_or_error(database_url: str) -> None:
    with SampleApi(Inventory(size=10)) as api:
        make_fanout_tables(database_url, api)
        with (
            RunningService(fanout_config(database_url, api, concurrency=4)) as served,
            served.client() as client,
        ):
            result = client.post("/api/pipelines/bank_sync/runs", params={"wait": "true"}).json()
            run = run_status(client, result["run_id"])

    assert run["status"] == result["status"] == "partial"  # the revoked accounts fail
    by_id = {entity["id"]: entity for entity in run["entities"]}
    assert len(by_id) == len(result["entities"]) == 56
    assert by_id["u030"]["status"] == "skipped" and by_id["u030"]["reason"] == "inactive user"
    assert by_id["u036"]["reason"] == "demo user"
    assert by_id["u000"]["status"] == "success" and by_id["u000"]["created"] > 0
    failed = [entity for entity in by_id.values() if entity["status"] == "failed"]
    assert len(failed) == 5 and all(entity["error"] for entity in failed)
    assert run["totals"] == result["totals"]


def test_a_lookup_started_with_a_filter_refreshes_just_the_matching_keys_and_reports_no_secret(
    database_url: str,
) -> None:
    with SampleApi(Inventory(size=10)) as api:
        make_keys_table(database_url, api)
        with RunningService(lookup_config(database_url, api)) as served, served.client() as client:
            body = {"filter": {"prd": {"ilike": "%2021 Pro%"}}}
            result = client.post("/api/pipelines/key_refresh/runs", params={"wait": "true"}, json=body)
            assert result.status_code == 200, result.text
            shown = [
                client.get(path).text
                for path in (
                    f"/api/runs/{result.json()['run_id']}",
                    "/api/pipelines",
                    "/api/pipelines/key_refresh",
                )
            ]
    rows = fetch_all(database_url, "SELECT prd, remaining FROM product_keys")
    refreshed = {prd for prd, remaining in rows if remaining is not None}
    wanted = [prd for prd, _ in rows if "office" in prd.lower() and "2021 pro" in prd.lower()]
    assert wanted and result.json()["updated"] == len(wanted)
    assert refreshed == set(wanted)
    assert all(API_KEY not in text for text in [result.text, *shown])


def test_unknown_names_and_bad_bodies_get_404_and_422_in_one_error_shape(database_url: str) -> None:
    with (
        SampleApi(Inventory(size=10)) as api,
        RunningService(url_document(database_url, {"items": pipeline_config(api.url)})) as served,
        served.client() as client,
    ):
        answers = {
            "pipeline": client.get("/api/pipelines/nope"),
            "run": client.get("/api/runs/nope"),
            "cancel": client.post("/api/runs/nope/cancel"),
            "start": client.post("/api/pipelines/nope/runs"),
            "route": client.get("/api/nothing-here"),
            "body": client.post("/api/pipelines/items/runs", json={"batch_size": 0, "colour": "red"}),
            "json": client.post(
                "/api/pipelines/items/runs",
                content=b"{not json",
                headers={"content-type": "application/json"},
            ),
            "query": client.get("/api/runs", params={"limit": "many"}),
            "duration": client.get("/api/pipelines/items/stats", params={"stale_after": "soon"}),
            "huge_id": client.get(
                "/api/pipelines/items/errors", params={"before_id": 10**40}
            ),  # found by Schemathesis
        }
        targeted = client.post("/api/pipelines/items/runs", json={"only": ["1"], "filter": {"x": {"eq": 1}}})
    for name in ("pipeline", "run", "cancel", "start", "route"):
        assert answers[name].status_code == 404, name
    for name in ("body", "json", "query", "duration", "huge_id"):
        assert answers[name].status_code == 422, name
    for answer in answers.values():
        assert set(answer.json()) == {"error"} and set(answer.json()["error"]) == {
            "code",
            "message",
            "details",
        }
    fields = {problem["field"] for problem in answers["body"].json()["error"]["details"]}
    assert fields == {"batch_size", "colour"}
    assert "limit" in answers["query"].json()["error"]["message"]
    assert targeted.status_code == 400 and targeted.json()["error"]["code"] == "invalid_request"
