"""`batchsync reset NAME` forgets every checkpoint the pipeline owns: its own (`NAME`) and its units'
(`NAME/...`: a fan-out's child syncs, a partitioned pull's ranges, a distributed lookup's shards), and
nobody else's; the next run starts every unit from its first page. On SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest

import batchsync
from batchsync.database import open_database
from batchsync.errors import ConfigError
from batchsync.models import Checkpoint, EntityStatus, RunStatus
from batchsync.state import checkpoints
from batchsync.state.tables import ensure_state_tables
from fakeapi import SampleApi
from syncsupport import fetch_all, listed_fanout_document, run_stopped_when

PAGES, PER_PAGE = 6, 10


def stored_checkpoints(database_url: str) -> dict[str, dict[str, Any]]:
    """Every checkpoint in the database, by key, as its JSON document."""
    rows = fetch_all(database_url, "SELECT pipeline, state FROM batchsync_checkpoints")
    return {key: orjson.loads(state) for key, state in rows}


def pages_fetched(api: SampleApi, account: str) -> list[int]:
    """The pages of `account`'s transactions the fake API was asked for, in order."""
    path = f"/accounts/{account}/transactions"
    return [int(request.query["page"]) for request in api.requests if request.path == path]


def synced(database_url: str) -> dict[str, tuple[str, Decimal]]:
    rows = fetch_all(database_url, "SELECT transaction_id, account_id, amount FROM transactions")
    return {str(row[0]): (str(row[1]), Decimal(str(row[2]))) for row in rows}


def expected(api: SampleApi, accounts: list[str]) -> dict[str, tuple[str, Decimal]]:
    return {
        str(t["transaction_id"]): (account, Decimal(str(t["amount"])))
        for account in accounts
        for t in api.accounts.transactions(account)
    }


def test_reset_forgets_the_fanouts_child_checkpoints_so_each_child_starts_over(
    api: SampleApi, database_url: str
) -> None:
    accounts = api.accounts.filling(3, pages=PAGES, per_page=PER_PAGE)
    # One entity at a time, one page in flight, a commit per page: the stop below leaves the second
    # account's child sync with a checkpoint part-way through its pass.
    document = listed_fanout_document(
        database_url, api, accounts, columns=("transaction_id", "account_id", "amount"), concurrency=1
    )
    document["pipelines"]["bank_sync"]["db_batch_size"] = PER_PAGE
    api.settings.latency_seconds = 0.01
    first = run_stopped_when("bank_sync", document, lambda: 3 in pages_fetched(api, accounts[1]))
    assert first.status is RunStatus.CANCELLED, first.error
    mid_pass = stored_checkpoints(database_url)[f"bank_sync/{accounts[1]}/{accounts[1]}"]
    assert not mid_pass["is_complete"] and mid_pass["cursor"] not in (None, 1), mid_pass
    rows_before = synced(database_url)

    assert batchsync.reset("bank_sync", document) is True

    assert not stored_checkpoints(database_url), "every checkpoint of bank_sync is forgotten"
    assert synced(database_url) == rows_before, "rows stay"
    api.settings.latency_seconds = 0
    api.clear_log()
    second = batchsync.run("bank_sync", document)

    assert second.status is RunStatus.SUCCEEDED, second.error
    assert [entity.status for entity in second.entities] == [EntityStatus.SUCCEEDED] * 3
    for account in accounts:
        fetched = pages_fetched(api, account)
        assert fetched[0] == 1 and set(fetched) == set(range(1, PAGES + 1)), (account, fetched)
    assert synced(database_url) == expected(api, accounts)


def test_reset_forgets_every_unit_checkpoint_under_the_pipelines_name_and_no_other(
    database_url: str, api: SampleApi
) -> None:
    document = listed_fanout_document(database_url, api, ["acc-1"])
    owned = ["bank_sync", "bank_sync/acc-1/acc-1", "bank_sync/partition/0..10", "bank_sync/shard/..500"]
    # Other pipelines' keys that a careless prefix would take: a longer name, `_` read as a LIKE
    # wildcard, and the bare name without its slash.
    others = ["bank_sync_eu", "bank_sync_eu/shard/..500", "bankXsync/acc-1/acc-1", "bank_syncs/acc-1/acc-1"]
    engine = open_database(database_url)
    try:
        ensure_state_tables(engine)
        with engine.begin() as connection:
            for key in owned + others:
                checkpoints.save(connection, key, Checkpoint(cursor=3, pass_records=20))
    finally:
        engine.dispose()

    assert batchsync.reset("bank_sync", document) is True

    assert sorted(stored_checkpoints(database_url)) == sorted(others)
    assert batchsync.reset("bank_sync", document) is False, "nothing left to forget"


def test_a_pipeline_name_cannot_hold_a_slash_so_the_keys_under_it_are_its_alone(api: SampleApi) -> None:
    # What reset relies on: were `bank/sync` a pipeline, `bank/sync/...` would be under `bank/`.
    document = listed_fanout_document("sqlite:///unused.db", api, ["acc-1"])
    document["pipelines"]["bank/sync"] = document["pipelines"].pop("bank_sync")

    with pytest.raises(ConfigError) as refused:
        batchsync.reset("bank/sync", document)

    assert "pipeline name 'bank/sync' must be a plain identifier" in " ".join(refused.value.problems)
