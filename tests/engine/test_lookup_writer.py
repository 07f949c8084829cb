"""The lookup's write path: a batch of answers committed by BatchWriter with `updates_existing_rows`,
its key checkpoint and dead letters in the same transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from batchsync.config import DestinationConfig, LookupSourceConfig
from batchsync.database import open_database
from batchsync.engine.batches import BatchWriter
from batchsync.engine.lookup_keys import prepare_lookup_table
from batchsync.engine.records import Batch
from batchsync.models import Checkpoint
from batchsync.redaction import Redactor
from batchsync.sinks import make_sink
from batchsync.sinks.mapping import ColumnsMapper, MappedRow
from batchsync.state import checkpoints, deadletters
from batchsync.state.deadletters import DeadLetter
from batchsync.state.tables import ensure_state_tables

DESTINATION = DestinationConfig.model_validate(
    {
        "table": "product_keys",
        "primary_key": "keyname",
        "columns": {
            "remaining": {"path": "remaining", "type": "integer"},
            "errorcode": {"path": "errorcode"},
        },
    }
)
SOURCE = LookupSourceConfig.model_validate(
    {
        "type": "lookup",
        "base_url": "http://127.0.0.1:1",
        "path": "/keycheck",
        "keys": {"table": "product_keys", "column": "keyname"},
        "send_keys_as": {"query_param": "keys"},
        "match_on": "keyname",
    }
)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    ensure_state_tables(engine)
    with engine.begin() as connection:  # the user's table: keys, a column of theirs, answers still empty
        connection.execute(
            text(
                "CREATE TABLE product_keys"
                " (keyname TEXT PRIMARY KEY, remaining INTEGER, errorcode TEXT, notes TEXT)"
            )
        )
        connection.execute(
            text("INSERT INTO product_keys (keyname, notes) VALUES ('k1', 'n1'), ('k2', 'n2')")
        )
    prepare_lookup_table(engine, SOURCE, DESTINATION, dry_run=False)
    yield engine
    engine.dispose()


def writer(engine: Engine, **overrides: Any) -> BatchWriter:
    settings: dict[str, Any] = {
        "incremental": None,
        "redactor": Redactor(),
        "fail_on_record_error": False,
        "dry_run": False,
        "has_dead_letters": False,
        "table_exists": True,
        "dead_letters_under": "key_refresh",
        "settles_dead_letters_at_pass_end": False,
        "updates_existing_rows": True,
    }
    return BatchWriter(
        "key_refresh", "run-1", make_sink(engine.dialect.name, DESTINATION), **(settings | overrides)
    )


def answers(*found: tuple[str, int, str]) -> Batch:
    mapper = ColumnsMapper(DESTINATION.columns)
    rows = []
    for key, remaining, code in found:
        answer = {"keyname": key, "remaining": remaining, "errorcode": code}
        rows.append(MappedRow(key, tuple(mapper.values(answer)), "", answer))
    return Batch(tuple(rows))


def table(engine: Engine) -> dict[str, tuple[Any, ...]]:
    with engine.connect() as connection:
        found = connection.execute(text("SELECT keyname, remaining, errorcode, notes FROM product_keys"))
        return {row[0]: tuple(row[1:]) for row in found}


def test_answers_update_their_rows_with_the_key_checkpoint_and_count_updated_and_unchanged(
    engine: Engine,
) -> None:
    write = writer(engine)
    after_k2 = Checkpoint(cursor="k2", pass_records=2)
    with engine.connect() as connection:
        write.commit_with_checkpoint(
            connection, answers(("k1", 5, "ok"), ("k2", 0, "used")), after_k2, pages=1
        )
        write.commit_with_checkpoint(
            connection,
            answers(("k1", 5, "ok"), ("k2", 1, "ok")),
            dataclasses.replace(after_k2, cursor="k3"),
            pages=1,
        )
        stored = checkpoints.load(connection, "key_refresh")

    assert table(engine) == {"k1": (5, "ok", "n1"), "k2": (1, "ok", "n2")}  # their column untouched
    assert (write.counts.updated, write.counts.unchanged, write.counts.created) == (3, 1, 0)
    assert stored is not None and stored.cursor == "k3"
    assert write.batches_committed == 2 and write.records == 4


def test_an_answer_for_a_key_whose_row_is_gone_creates_nothing_and_counts_as_updated(engine: Engine) -> None:
    write = writer(engine)
    with engine.connect() as connection:
        write.commit_with_checkpoint(
            connection, answers(("gone", 3, "ok")), Checkpoint(cursor="gone"), pages=1
        )

    assert set(table(engine)) == {"k1", "k2"}
    assert (write.counts.updated, write.counts.unchanged, write.counts.created) == (1, 0, 0)


def test_failed_keys_are_dead_letters_committed_with_the_answers(engine: Engine) -> None:
    write = writer(engine)
    batch = answers(("k1", 5, "ok")).with_dead_letters([DeadLetter("k2", "{}", "not in the answer")])
    with engine.connect() as connection:
        write.commit_with_checkpoint(connection, batch, Checkpoint(cursor="k2"), pages=1)
        filed = [row["key"] for row in deadletters.recent(connection, "key_refresh")]

    assert filed == ["k2"] and [letter.key for letter in write.dead_letters] == ["k2"]
    assert table(engine)["k1"] == (5, "ok", "n1")


def test_a_dry_run_counts_the_updates_and_writes_nothing(engine: Engine) -> None:
    dry = writer(engine, dry_run=True)
    with engine.connect() as connection:
        dry.commit_with_checkpoint(connection, answers(("k1", 5, "ok")), Checkpoint(cursor="k1"), pages=1)
        stored = checkpoints.load(connection, "key_refresh")

    assert dry.counts.updated == 1 and dry.batches_committed == 0
    assert stored is None and table(engine)["k1"] == (None, None, "n1")
