"""A batch's rows and the checkpoint after it commit in one transaction (engine/batches.py), on SQLite and
PostgreSQL. Upserts are idempotent, so a checkpoint saved in a transaction of its own would pass any test
that reruns and compares the final table; these make one write of a batch fail inside the database and
look at the table right then: it must hold exactly the rows the stored checkpoint covers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import batchsync
from batchsync.models import RunStatus, WriteCounts
from fakeapi import Inventory, SampleApi
from syncsupport import (
    assert_table_at_equals_source,
    execute,
    fetch_dicts,
    pipeline_config,
    table_rows_at,
    url_document,
)

PAGE_SIZE = 100
CHECKPOINT_WRITES_ALLOWED = 4
FAILING_ROW = 350  # the record whose write fails: page 4 of 100-record pages


def document(api: SampleApi, database_url: str, db_batch_size: int) -> dict[str, Any]:
    pipeline = {**pipeline_config(api.url, "page_number_has_more"), "db_batch_size": db_batch_size}
    pipeline["source"]["paginator"]["page_size"] = PAGE_SIZE
    return url_document(database_url, {"items": pipeline})


def create_tables(database_url: str) -> None:
    """The destination and state tables as batchsync makes them, with no checkpoint stored yet."""
    with SampleApi(Inventory(size=0)) as empty:
        config = document(empty, database_url, PAGE_SIZE)
        assert batchsync.run("items", config).status is RunStatus.SUCCEEDED
        batchsync.reset("items", config)


def refuse_checkpoint_writes_after(allowed: int, database_url: str) -> None:
    """A trigger on batchsync_checkpoints that lets `allowed` checkpoint writes through and refuses the
    next: the batch it belongs to has already written its rows in the same transaction."""
    execute(database_url, "CREATE TABLE test_checkpoint_writes (allowed INTEGER NOT NULL)")
    execute(database_url, "INSERT INTO test_checkpoint_writes VALUES (:allowed)", {"allowed": allowed})
    if database_url.startswith("sqlite:"):
        for event in ("INSERT", "UPDATE"):  # save() inserts the first checkpoint, updates it after
            execute(
                database_url,
                f"CREATE TRIGGER test_refuse_checkpoint_{event.lower()} "
                f"BEFORE {event} ON batchsync_checkpoints BEGIN "
                "SELECT RAISE(ABORT, 'checkpoint write refused by the test') "
                "WHERE (SELECT allowed FROM test_checkpoint_writes) <= 0; "
                "UPDATE test_checkpoint_writes SET allowed = allowed - 1; "
                "END",
            )
        return
    execute(
        database_url,
        "CREATE FUNCTION test_refuse_checkpoint() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF (SELECT allowed FROM test_checkpoint_writes) <= 0 THEN "
        "RAISE EXCEPTION 'checkpoint write refused by the test'; END IF; "
        "UPDATE test_checkpoint_writes SET allowed = allowed - 1; RETURN NEW; END $$",
    )
    execute(
        database_url,
        "CREATE TRIGGER test_refuse_checkpoint BEFORE INSERT OR UPDATE ON batchsync_checkpoints "
        "FOR EACH ROW EXECUTE FUNCTION test_refuse_checkpoint()",
    )


def allow_checkpoint_writes(database_url: str) -> None:
    if database_url.startswith("sqlite:"):
        execute(database_url, "DROP TRIGGER test_refuse_checkpoint_insert")
        execute(database_url, "DROP TRIGGER test_refuse_checkpoint_update")
    else:
        execute(database_url, "DROP TRIGGER test_refuse_checkpoint ON batchsync_checkpoints")


def fail_the_write_of(item_id: str, database_url: str) -> None:
    """A trigger on the destination table that makes the database fail while writing this one row, in a
    way that is not the row's fault (so the sink does not set the row aside as a dead letter and write the
    rest: the whole batch fails), before the batch's checkpoint is saved."""
    if database_url.startswith("sqlite:"):
        # json() of malformed text fails the statement with SQLITE_ERROR, not a constraint violation.
        execute(
            database_url,
            f"CREATE TRIGGER test_fail_a_row BEFORE INSERT ON items WHEN NEW.item_id = '{item_id}' "
            "BEGIN SELECT json('the database failed mid-batch (simulated by the test)'); END",
        )
        return
    execute(
        database_url,
        "CREATE FUNCTION test_fail_a_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'the database failed mid-batch (simulated by the test)'; END $$",
    )
    execute(
        database_url,
        f"CREATE TRIGGER test_fail_a_row BEFORE INSERT ON items FOR EACH ROW "
        f"WHEN (NEW.item_id = '{item_id}') EXECUTE FUNCTION test_fail_a_row()",
    )


def let_every_row_through(database_url: str) -> None:
    execute(
        database_url,
        "DROP TRIGGER test_fail_a_row" + ("" if database_url.startswith("sqlite:") else " ON items"),
    )


Breakage = Callable[[Inventory, str], str]
"""Installs a failure in the database; returns what the run's error will say about it."""


def refuse_the_fifth_checkpoint(_inventory: Inventory, database_url: str) -> str:
    refuse_checkpoint_writes_after(CHECKPOINT_WRITES_ALLOWED, database_url)
    return "checkpoint write refused by the test"


def fail_a_row_of_page_four(inventory: Inventory, database_url: str) -> str:
    fail_the_write_of(inventory.items()[FAILING_ROW]["item_id"], database_url)
    return "malformed JSON" if database_url.startswith("sqlite:") else "simulated by the test"


def repair(database_url: str, breakage: Breakage) -> None:
    if breakage is refuse_the_fifth_checkpoint:
        allow_checkpoint_writes(database_url)
    else:
        let_every_row_through(database_url)


CASES: dict[str, tuple[Breakage, int, int]] = {
    # case: (what fails, db_batch_size, records the last committed batch ends at)
    "checkpoint_refused_one_batch_a_page": (refuse_the_fifth_checkpoint, 100, 400),
    # batches of 40, 40, 20 per page: the fourth checkpoint is the first batch of page 2
    "checkpoint_refused_three_batches_a_page": (refuse_the_fifth_checkpoint, 40, 140),
    "row_write_failed_one_batch_a_page": (fail_a_row_of_page_four, 100, 300),
    # record 350 is in page 4's second batch (340-379)
    "row_write_failed_three_batches_a_page": (fail_a_row_of_page_four, 40, 340),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_batch_that_fails_inside_the_database_leaves_exactly_the_rows_its_checkpoint_covers(
    case: str, database_url: str
) -> None:
    breakage, db_batch_size, committed = CASES[case]
    inventory = Inventory(size=1_000)
    create_tables(database_url)
    failure = breakage(inventory, database_url)
    with SampleApi(inventory) as api:
        config = document(api, database_url, db_batch_size)

        failed = batchsync.run("items", config)
        (stored,) = batchsync.status("items", config)
        table = set(table_rows_at(database_url))
        repair(database_url, breakage)
        resumed = batchsync.run("items", config)

        assert failed.status is RunStatus.FAILED
        assert failure in (failed.error or "")
        # The checkpoint says where the pass stands: pages before `cursor` whole, then `skip_records`.
        covered = (stored.cursor - 1) * PAGE_SIZE + stored.skip_records
        assert covered == stored.pass_records == committed
        assert table == {item["item_id"] for item in inventory.items()[:covered]}, (
            f"the table holds {len(table)} rows where the checkpoint covers {covered}"
        )
        (failed_run, resumed_run) = fetch_dicts(
            database_url, "SELECT created, updated, unchanged FROM batchsync_runs ORDER BY started_at"
        )[-2:]
        assert failed.counts == WriteCounts(created=covered)
        assert failed_run == {"created": covered, "updated": 0, "unchanged": 0}
        # The resumed run writes each remaining record once and none of the committed ones again.
        assert resumed.status is RunStatus.SUCCEEDED, resumed.error
        assert resumed.counts == WriteCounts(created=1_000 - covered)
        assert resumed_run == {"created": 1_000 - covered, "updated": 0, "unchanged": 0}
        assert_table_at_equals_source(database_url, inventory)
