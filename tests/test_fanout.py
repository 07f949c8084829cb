"""Fan-out over 56 accounts: inactive, demo, no auto-sync, no providers, revoked credentials and healthy
users, each with its own outcome; concurrency changes nothing in the data; dry run; --only; resume. The
outcome and --only tests run on PostgreSQL too (the `database_url` fixture); the rest stay on SQLite for
speed, as nothing in them depends on the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

import batchsync
from batchsync.cli import app
from batchsync.models import EntityStatus, RunStatus
from fakeapi import SampleApi
from fakeapi.faults import FailNth, FaultOptions
from syncsupport import execute, fetch_all, run_stopped_when, write_config

runner = CliRunner(env={"COLUMNS": "250"})


@pytest.fixture
def sqlite_url(database: Path) -> str:
    return f"sqlite:///{database}"


KINDS = ["healthy"] * 30 + ["inactive"] * 6 + ["demo"] * 6 + ["no_auto_sync"] * 5 + ["no_providers"] * 4
KINDS += ["revoked"] * 5


def users() -> list[tuple[str, str]]:
    return [(f"u{index:03d}", kind) for index, kind in enumerate(KINDS)]


def make_tables(database_url: str, api: SampleApi) -> None:
    execute(
        database_url, "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT, status TEXT, is_demo INTEGER)"
    )
    execute(
        database_url,
        "CREATE TABLE providers (id TEXT PRIMARY KEY, user_id TEXT, account_id TEXT, token TEXT,"
        " auto_sync INTEGER)",
    )
    user_rows, provider_rows = [], []
    for user, kind in users():
        status = "inactive" if kind == "inactive" else "active"
        user_rows.append(
            {"id": user, "email": f"{user}@example.com", "status": status, "is_demo": int(kind == "demo")}
        )
        if kind == "no_providers":
            continue
        for n in (1, 2):  # two providers each; the second never auto-syncs
            account = f"{user}-p{n}"
            auto = int(n == 1 and kind != "no_auto_sync")
            provider_rows.append(
                {
                    "id": account,
                    "user_id": user,
                    "account_id": account,
                    "token": api.accounts.token_for(account),
                    "auto_sync": auto,
                }
            )
    execute(database_url, "INSERT INTO users VALUES (:id, :email, :status, :is_demo)", user_rows)
    execute(
        database_url,
        "INSERT INTO providers VALUES (:id, :user_id, :account_id, :token, :auto_sync)",
        provider_rows,
    )
    api.settings.revoked_accounts = {f"{user}-p1" for user, kind in users() if kind == "revoked"}


def fanout_config(database_url: str, api: SampleApi, concurrency: int = 1) -> dict[str, Any]:
    return {
        "database": database_url,
        "pipelines": {
            "bank_sync": {
                "source": {
                    "type": "fanout",
                    "concurrency": concurrency,
                    "entities": {
                        "table": "users",
                        "id_field": "id",
                        "label_field": "email",
                        "rules": [
                            {"field": "status", "equals": "active", "reason": "inactive user"},
                            {"field": "is_demo", "is_true": False, "reason": "demo user"},
                        ],
                    },
                    "children": {
                        "table": "providers",
                        "entity_column": "user_id",
                        "rules": [{"field": "auto_sync", "is_true": True, "reason": "auto-sync is off"}],
                    },
                    "child_source": {
                        "base_url": api.url,
                        "path": "/accounts/{child.account_id}/transactions",
                        "auth": {"type": "bearer", "token": "{child.token}"},
                        "paginator": {
                            "type": "page_number",
                            "page_size": 25,
                            "has_more_path": "page_context.has_more_page",
                        },
                        "records_path": "transactions",
                    },
                },
                "destination": {
                    "table": "transactions",
                    "primary_key": "transaction_id",
                    "columns": {
                        "transaction_id": {"path": "transaction_id"},
                        "account_id": {"path": "account_id"},
                        "amount": {"path": "amount", "type": "decimal"},
                        "booked_at": {"path": "booked_at", "type": "datetime"},
                        "description": {"path": "description"},
                    },
                },
                "retry": {"max_attempts": 2, "backoff": 0.01},
            }
        },
    }


def synced(database_url: str) -> dict[str, tuple[Any, ...]]:
    rows = fetch_all(
        database_url, "SELECT transaction_id, account_id, amount, booked_at, description FROM transactions"
    )
    return {row[0]: row[1:] for row in rows}


def expected_transactions(api: SampleApi, only: set[str] | None = None) -> set[str]:
    return {
        transaction["transaction_id"]
        for user, kind in users()
        if kind == "healthy" and (only is None or user in only)
        for transaction in api.accounts.transactions(f"{user}-p1")
    }


def test_every_entity_gets_exactly_its_outcome(api: SampleApi, database_url: str, tmp_path: Path) -> None:
    make_tables(database_url, api)
    config_file = write_config(tmp_path / "c.yaml", fanout_config(database_url, api))

    result = runner.invoke(app, ["run", "bank_sync", "-c", str(config_file), "--json"])

    summary = orjson.loads(result.stdout)
    by_id = {entity["id"]: entity for entity in summary["entities"]}
    expected_reason = {
        "inactive": "inactive user",
        "demo": "demo user",
        "no_providers": "no providers",
        "no_auto_sync": "no eligible providers: auto-sync is off",
    }
    for user, kind in users():
        entity = by_id[user]
        assert entity["label"] == f"{user}@example.com"
        if kind == "healthy":
            assert entity["status"] == "success" and entity["error"] is None, entity
        elif kind == "revoked":
            assert entity["status"] == "failed" and "401" in entity["error"], entity
        else:
            assert (entity["status"], entity["reason"]) == ("skipped", expected_reason[kind]), entity
        assert entity["duration_seconds"] >= 0
    assert summary["totals"] == {"total": 56, "successful": 30, "failed": 5, "skipped": 21}
    assert summary["message"] == "Bulk sync completed: 30 successful, 5 failed, 21 skipped"
    assert result.exit_code == 1 and summary["status"] == "partial"
    assert set(synced(database_url)) == expected_transactions(api)
    assert sum(by_id[user]["created"] for user, kind in users() if kind == "healthy") == len(
        synced(database_url)
    )


def test_concurrency_4_gives_the_same_data_as_one_at_a_time(api: SampleApi, tmp_path: Path) -> None:
    tables = []
    for concurrency in (1, 4):
        database_url = f"sqlite:///{tmp_path / f'c{concurrency}.db'}"
        make_tables(database_url, api)
        result = batchsync.run("bank_sync", fanout_config(database_url, api, concurrency))
        assert [e.status for e in result.entities].count(EntityStatus.SUCCEEDED) == 30
        tables.append(synced(database_url))

    assert tables[0] == tables[1] and len(tables[0]) == len(expected_transactions(api))


def test_dry_run_lists_each_entity_and_why_and_writes_nothing(
    api: SampleApi, sqlite_url: str, tmp_path: Path
) -> None:
    make_tables(sqlite_url, api)
    config_file = write_config(tmp_path / "c.yaml", fanout_config(sqlite_url, api))

    result = runner.invoke(app, ["run", "bank_sync", "-c", str(config_file), "--dry-run"])

    assert result.exit_code == 0, result.output
    for user, kind in users():
        line = next(line for line in result.output.splitlines() if f" {user} " in line)
        assert ("would sync" in line) == (kind in ("healthy", "revoked")), line
    assert "demo user" in result.output and "auto-sync is off" in result.output
    assert "35 would be synced, 21 skipped" in result.output
    assert not [r for r in api.requests if r.path.startswith("/accounts/")]
    assert not fetch_all(sqlite_url, "SELECT name FROM sqlite_master WHERE name = 'transactions'")


def test_only_syncs_just_those_entities(api: SampleApi, database_url: str) -> None:
    make_tables(database_url, api)

    result = batchsync.run("bank_sync", fanout_config(database_url, api), only=["u000", "u031"])

    assert [(e.id, e.status) for e in result.entities] == [("u000", "success"), ("u031", "skipped")]
    assert set(synced(database_url)) == expected_transactions(api, {"u000"})


def test_an_interrupted_fanout_resumes_with_the_entities_not_yet_done(
    api: SampleApi, sqlite_url: str
) -> None:
    make_tables(sqlite_url, api)
    api.settings.latency_seconds = 0.01
    config = fanout_config(sqlite_url, api)

    def some_accounts_begun() -> bool:
        return len({r.path for r in api.requests if r.path.startswith("/accounts/")}) >= 6

    first = run_stopped_when("bank_sync", config, some_accounts_begun)
    done_first = {entity.id for entity in first.entities}
    api.clear_log()

    second = batchsync.run("bank_sync", config)

    done_second = {entity.id for entity in second.entities}
    assert first.status is RunStatus.CANCELLED and 0 < len(done_first) < 56
    assert done_first.isdisjoint(done_second) and done_first | done_second == {user for user, _ in users()}
    assert set(synced(sqlite_url)) == expected_transactions(api)
    (status,) = batchsync.status("bank_sync", config)
    assert status.is_complete


@pytest.mark.parametrize("concurrency", [1])
def test_a_fanout_with_no_entities_exits_2(
    api: SampleApi, sqlite_url: str, tmp_path: Path, concurrency: int
) -> None:
    make_tables(sqlite_url, api)
    config_file = write_config(tmp_path / "c.yaml", fanout_config(sqlite_url, api, concurrency))

    result = runner.invoke(app, ["run", "bank_sync", "-c", str(config_file), "--only", "nobody"])

    assert result.exit_code == 2 and "no entities to sync" in result.output


def test_record_errors_of_child_syncs_are_reported_under_the_fanout(api: SampleApi, sqlite_url: str) -> None:
    make_tables(sqlite_url, api)
    config = fanout_config(sqlite_url, api)
    config["pipelines"]["bank_sync"]["destination"]["columns"]["description"]["type"] = "integer"

    result = batchsync.run("bank_sync", config, only=["u000", "u001"])

    letters = batchsync.dead_letters("bank_sync", config, limit=10_000)
    expected = len(expected_transactions(api, {"u000", "u001"}))
    assert result.status is RunStatus.PARTIAL and len(result.dead_letters) == expected == len(letters)
    assert {letter["run_id"] for letter in letters} == {result.run_id}


def test_a_child_that_cannot_run_fails_its_entity_only(api: SampleApi, sqlite_url: str) -> None:
    make_tables(sqlite_url, api)
    config = fanout_config(sqlite_url, api)
    config["pipelines"]["bank_sync"]["source"]["child_source"]["path"] = "/accounts/{child.no_such_field}/x"

    result = batchsync.run("bank_sync", config, only=["u000", "u031"])

    statuses = {entity.id: (entity.status, entity.error or entity.reason) for entity in result.entities}
    assert statuses["u000"][0] is EntityStatus.FAILED and "no_such_field" in statuses["u000"][1]
    assert statuses["u031"][0] is EntityStatus.SKIPPED


def test_only_says_which_ids_are_no_entity_and_why_the_ineligible_are_skipped(
    api: SampleApi, database_url: str
) -> None:
    make_tables(database_url, api)

    result = batchsync.run("bank_sync", fanout_config(database_url, api), only=["u000", "u031", "nobody"])

    outcomes = [(e.id, e.status, e.reason) for e in result.entities]
    assert outcomes == [("u000", "success", None), ("u031", "skipped", "inactive user")]
    assert result.warnings == ("--only nobody: no entity has that id (in table users, by id)",)
    assert set(synced(database_url)) == expected_transactions(api, {"u000"})


def test_only_with_no_known_entity_fails_without_reporting_a_complete_pass(
    api: SampleApi, sqlite_url: str, tmp_path: Path
) -> None:
    make_tables(sqlite_url, api)
    config_file = write_config(tmp_path / "c.yaml", fanout_config(sqlite_url, api))

    result = runner.invoke(app, ["run", "bank_sync", "-c", str(config_file), "--only", "nobody,ghost"])

    assert result.exit_code == 2
    assert "no entities to sync (--only ghost, nobody: no entity has these ids (in table users, by id))" in (
        result.output
    )
    assert "pass complete" not in result.output
    assert "--only: just those ids; the pass checkpoint is left as it was" in result.output


def test_concurrent_children_creating_the_destination_table_at_once_all_succeed_on_postgresql(
    api: SampleApi, postgres_url: str
) -> None:
    make_tables(postgres_url, api)  # users and providers only: the transactions table does not exist yet

    result = batchsync.run("bank_sync", fanout_config(postgres_url, api, concurrency=8))

    errors = [e.error or "" for e in result.entities if e.status is EntityStatus.FAILED]
    assert not [error for error in errors if "cannot create or update table" in error], errors
    assert [e.status for e in result.entities].count(EntityStatus.SUCCEEDED) == 30
    assert set(synced(postgres_url)) == expected_transactions(api)


def listed_fanout_config(database_url: str, api: SampleApi, retry: dict[str, Any]) -> dict[str, Any]:
    """A fan-out whose entities are the accounts `GET /accounts` lists, one child sync each."""
    config = fanout_config(database_url, api)
    pipeline = config["pipelines"]["bank_sync"]
    pipeline["source"]["entities"] = {
        "api": {
            "base_url": api.url,
            "path": "/accounts",
            "records_path": "accounts",
            "paginator": {"type": "page_number", "has_more_path": "page_context.has_more_page"},
        },
        "id_field": "account_id",
    }
    del pipeline["source"]["children"]
    child = pipeline["source"]["child_source"]
    child["path"] = "/accounts/{entity.account_id}/transactions"
    child["auth"] = {"type": "bearer", "token": "{entity.token}"}
    pipeline["retry"] = retry
    accounts = [f"acc-{number}" for number in range(3)]
    api.accounts.set_directory(
        [{"account_id": item, "token": api.accounts.token_for(item)} for item in accounts]
    )
    return config


def listing_requests(api: SampleApi) -> list[int]:
    return [request.status for request in api.requests if request.path == "/accounts"]


def test_an_entity_listing_that_fails_once_with_503_is_retried_and_the_fanout_succeeds(
    api: SampleApi, sqlite_url: str
) -> None:
    config = listed_fanout_config(sqlite_url, api, {"max_attempts": 2, "backoff": 0, "retry_on": [503]})
    api.settings.faults = FailNth({1: "server_error"}, options=FaultOptions(server_error_statuses=(503,)))

    result = batchsync.run("bank_sync", config)

    assert listing_requests(api) == [503, 200]
    assert result.status is RunStatus.SUCCEEDED, result.error
    outcomes = [(entity.id, entity.status) for entity in result.entities]
    assert outcomes == [(f"acc-{n}", EntityStatus.SUCCEEDED) for n in range(3)]
    expected = {t["transaction_id"] for n in range(3) for t in api.accounts.transactions(f"acc-{n}")}
    assert set(synced(sqlite_url)) == expected


def test_the_entity_listing_follows_the_fanout_pipelines_retry_settings(
    api: SampleApi, sqlite_url: str
) -> None:
    config = listed_fanout_config(sqlite_url, api, {"max_attempts": 1})
    api.settings.faults = FailNth({1: "server_error"}, options=FaultOptions(server_error_statuses=(503,)))

    with pytest.raises(batchsync.TransientHttpError, match="503"):
        batchsync.run("bank_sync", config)

    assert listing_requests(api) == [503], "max_attempts: 1 means the listing is not tried again"
