"""Lookup refresh against the sample key-check service: keys from a local table, at most 50 per call,
the filter applied, failed and rejected keys reported one by one, and resumable after kill -9; on SQLite
and PostgreSQL alike."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

import batchsync
from batchsync.cli import app
from batchsync.models import RunStatus
from fakeapi import ApiKeyAuth, KeyService, SampleApi
from lookupsupport import API_KEY, lookup_config, make_keys_table, office_keys, table
from syncsupport import write_config

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture
def key_api() -> SampleApi:
    with SampleApi(keys=KeyService(size=1_500, seed=4)) as server:
        server.settings.auth = ApiKeyAuth("apikey", API_KEY, "query")
        yield server


def test_lookup_refreshes_every_good_key_and_reports_bad_and_failed_keys_one_by_one(
    key_api: SampleApi, database_url: str, tmp_path: Path
) -> None:
    bad_key = "not-a-valid-key"
    make_keys_table(database_url, key_api, extra=[bad_key])
    office = office_keys(key_api)
    failing = sorted(office)[400]  # its batch answers 503 on every try
    key_api.settings.lookup_fail_keys = {failing}
    config_file = write_config(tmp_path / "c.yaml", lookup_config(database_url, key_api))
    before = table(database_url)

    result = runner.invoke(app, ["run", "key_refresh", "-c", str(config_file), "--json"])

    summary = orjson.loads(result.stdout)
    rows = table(database_url)
    failing_batch = sorted([*office, bad_key])[400 // 50 * 50 : 400 // 50 * 50 + 50]
    errors = {detail["key"]: detail["error"] for detail in summary["error_details"]}
    assert result.exit_code == 1 and summary["status"] == "partial"
    assert len(office) > 500 and summary["total_synced"] == len(office) + 1 - len(errors)
    assert set(errors) == {bad_key, *failing_batch} and "rejected the key" in errors[bad_key]
    assert all("503" in errors[key] for key in failing_batch)
    for key, answer in office.items():
        if key not in errors:
            assert rows[key][1:4] == (answer["remaining"], answer["blocked"], answer["errorcode"]), key
    untouched = [key for key in rows if key not in office or key in errors]
    assert all(rows[key][1:4] == before[key][1:4] for key in untouched), "the filter and dead letters held"
    assert all(rows[key][4] == before[key][4] for key in rows), "columns not listed are never written"
    assert max(request.key_count or 0 for request in key_api.requests) <= 50


def test_a_batch_larger_than_the_service_allows_is_split_until_it_fits(
    key_api: SampleApi, database_url: str
) -> None:
    make_keys_table(database_url, key_api)

    result = batchsync.run("key_refresh", lookup_config(database_url, key_api, batch_size=80))

    assert result.status is RunStatus.SUCCEEDED and result.counts.updated == len(office_keys(key_api))
    assert any(r.status == 400 and (r.key_count or 0) > 50 for r in key_api.requests)


def test_cli_filter_narrows_the_keys_with_bound_parameters(key_api: SampleApi, database_url: str) -> None:
    make_keys_table(database_url, key_api)
    config = lookup_config(database_url, key_api)
    config["pipelines"]["key_refresh"]["source"]["keys"]["where"] = {}

    result = batchsync.run("key_refresh", config, filters=["prd~Visio' OR 1=1 --"])
    visio = batchsync.run("key_refresh", config, filters=["prd~visio"])

    assert result.total_synced == 0, "a quote in a filter is a value, never SQL"
    expected = sum(1 for a in key_api.keys.all() if "visio" in str(a["prd"]).lower())
    assert visio.total_synced == expected > 0


def test_json_body_and_unchanged_answers(key_api: SampleApi, database_url: str) -> None:
    make_keys_table(database_url, key_api)
    config = lookup_config(database_url, key_api, send_keys_as={"json_body": "keys"})
    first = batchsync.run("key_refresh", config)
    changed = set(key_api.keys.update(30, seed=9)) & set(office_keys(key_api))

    second = batchsync.run("key_refresh", config)

    assert {r.method for r in key_api.requests} == {"POST"}
    assert first.counts.updated == len(office_keys(key_api))
    assert (second.counts.updated, second.counts.unchanged) == (
        len(changed),
        len(office_keys(key_api)) - len(changed),
    )


def test_kill_9_then_resume_refreshes_every_key_once_more_at_most_one_batch(
    key_api: SampleApi, database_url: str, tmp_path: Path
) -> None:
    make_keys_table(database_url, key_api)
    key_api.settings.latency_seconds = 0.03
    config_file = write_config(tmp_path / "c.yaml", lookup_config(database_url, key_api))
    process = subprocess.Popen(  # one batch at a time (the bound for N at once: test_lookup_concurrency)
        [
            sys.executable,
            "-m",
            "batchsync",
            "run",
            "key_refresh",
            "-c",
            str(config_file),
            "-q",
            "--concurrency",
            "1",
        ]
    )
    while len(key_api.requests) < 6:
        time.sleep(0.005)
    process.kill()
    process.wait()

    resumed = subprocess.run(
        [sys.executable, "-m", "batchsync", "run", "key_refresh", "-c", str(config_file), "--json"],
        capture_output=True,
        timeout=60,
    )

    summary = orjson.loads(resumed.stdout)
    office = office_keys(key_api)
    asked = [key for r in key_api.requests for key in r.query.get("keys", "").split(",") if key]
    assert resumed.returncode == 0 and summary["status"] == "succeeded"
    assert set(asked) == set(office) and len(asked) - len(set(asked)) <= 50
    rows = table(database_url)
    assert all(rows[key][1] == answer["remaining"] for key, answer in office.items())


def test_cli_filter_adds_to_the_configured_where_even_on_the_same_column(
    key_api: SampleApi, database_url: str
) -> None:
    make_keys_table(database_url, key_api)

    result = batchsync.run(
        "key_refresh", lookup_config(database_url, key_api), filters=["prd=Windows 11 Pro"]
    )

    assert result.status is RunStatus.SUCCEEDED and result.total_synced == 0, "Office AND Windows: no key"


def test_filter_on_a_pipeline_that_is_not_a_lookup_is_a_config_error(api: SampleApi, database: Path) -> None:
    from syncsupport import config_document, pipeline_config

    with pytest.raises(batchsync.ConfigError, match="--filter applies to lookup pipelines"):
        batchsync.run(
            "items", config_document(database, {"items": pipeline_config(api.url)}), filters=["a=b"]
        )
