"""BatchWriter on a real SQLite file and a real PostgreSQL: a batch's rows, dead letters and checkpoint
commit together or not at all."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, text

from batchsync.config import DestinationConfig
from batchsync.database import open_database
from batchsync.engine.batches import BatchPosition, BatchWriter
from batchsync.engine.records import Batch, RecordRouter
from batchsync.errors import RecordError
from batchsync.models import Checkpoint, JSONObject
from batchsync.redaction import Redactor
from batchsync.sinks import make_sink
from batchsync.sinks.base import Sink
from batchsync.sinks.mapping import RowMapper
from batchsync.sinks.schema import ensure_table
from batchsync.state import checkpoints, deadletters
from batchsync.state.deadletters import DeadLetter
from batchsync.state.tables import ensure_state_tables

DESTINATION = DestinationConfig.model_validate(
    {
        "table": "items",
        "primary_key": "id",
        "columns": {"id": {"path": "id"}, "sku": {"path": "sku"}, "qty": {"path": "qty", "type": "integer"}},
    }
)
PASS_START = datetime(2026, 1, 2, tzinfo=UTC)
LAST_PAGE = BatchPosition(cursor=None, skip_records=0, is_complete=True)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    ensure_state_tables(engine)
    ensure_table(engine, make_sink(engine.dialect.name, DESTINATION).table, DESTINATION)
    with engine.begin() as connection:  # something for the database itself to refuse: a second "dup" sku
        connection.execute(text("CREATE UNIQUE INDEX items_sku ON items (sku)"))
    yield engine
    engine.dispose()


def sink_of(engine: Engine) -> Sink:
    return make_sink(engine.dialect.name, DESTINATION)


def writer(engine: Engine, **overrides: Any) -> BatchWriter:
    settings: dict[str, Any] = {
        "incremental": None,
        "redactor": Redactor(),
        "fail_on_record_error": False,
        "dry_run": False,
        "has_dead_letters": False,
        "table_exists": True,
        "dead_letters_under": "items",
        "settles_dead_letters_at_pass_end": True,
    }
    return BatchWriter("items", "run-1", sink_of(engine), **(settings | overrides))


def batch(*records: JSONObject) -> Batch:
    router = RecordRouter(
        RowMapper(DESTINATION), record_filter=(), redactor=Redactor(), fail_on_record_error=False
    )
    return router.route_all(records)


def rows(engine: Engine) -> dict[str, tuple[Any, ...]]:
    with engine.connect() as connection:
        return {row[0]: tuple(row[1:]) for row in connection.execute(text("SELECT id, sku, qty FROM items"))}


def stored_checkpoint(engine: Engine) -> Checkpoint | None:
    with engine.connect() as connection:
        return checkpoints.load(connection, "items")


def letters(engine: Engine, under: str = "items") -> list[str | None]:
    with engine.connect() as connection:
        return sorted(str(row["key"]) for row in deadletters.recent(connection, under))


def test_rows_and_the_checkpoint_after_them_commit_together(engine: Engine) -> None:
    write = writer(engine)
    start = Checkpoint(pass_started_at=PASS_START)
    with engine.connect() as connection:
        following = write.commit(
            connection,
            batch({"id": "1", "sku": "a", "qty": 1}, {"id": "2", "sku": "b", "qty": 2}),
            start,
            BatchPosition(cursor=2, skip_records=0, is_complete=False),
            expected_total=4,
        )

    assert rows(engine) == {"1": ("a", 1), "2": ("b", 2)}
    assert stored_checkpoint(engine) == following
    assert (following.cursor, following.pass_records, following.total_expected) == (2, 2, 4)
    assert (write.counts.created, write.records, write.batches_committed) == (2, 2, 1)


def test_a_row_the_database_refuses_becomes_a_dead_letter_and_the_others_are_written(engine: Engine) -> None:
    write = writer(engine)
    with engine.connect() as connection:
        write.commit(connection, batch({"id": "1", "sku": "dup", "qty": 1}), Checkpoint(), LAST_PAGE, None)
        write.commit(
            connection,
            batch(
                {"id": "2", "sku": "dup", "qty": 2},
                {"id": "3", "sku": "c", "qty": 3},
                {"id": "4", "qty": "x"},
            ),
            Checkpoint(),
            LAST_PAGE,
            None,
        )

    assert rows(engine) == {"1": ("dup", 1), "3": ("c", 3)}
    assert letters(engine) == ["2", "4"]  # refused by the database; not an integer
    assert [letter.key for letter in write.dead_letters] == ["4", "2"]


def test_with_on_record_error_fail_a_refused_row_rolls_back_the_batch_and_its_checkpoint(
    engine: Engine,
) -> None:
    write = writer(engine, fail_on_record_error=True)
    with engine.connect() as connection:
        write.commit(connection, batch({"id": "1", "sku": "dup", "qty": 1}), Checkpoint(), LAST_PAGE, None)
        before = stored_checkpoint(engine)
        with pytest.raises(RecordError, match="record 2"):
            write.commit(
                connection,
                batch({"id": "2", "sku": "dup", "qty": 2}, {"id": "3", "sku": "c", "qty": 3}),
                Checkpoint(cursor=9),
                BatchPosition(cursor=10, skip_records=0, is_complete=False),
                None,
            )

    assert rows(engine) == {"1": ("dup", 1)}
    assert stored_checkpoint(engine) == before and letters(engine) == []


def test_a_dry_run_counts_what_it_would_do_and_writes_nothing(engine: Engine) -> None:
    with engine.connect() as connection:
        writer(engine).commit(
            connection, batch({"id": "1", "sku": "a", "qty": 1}), Checkpoint(), LAST_PAGE, None
        )
    before = stored_checkpoint(engine)
    dry = writer(engine, dry_run=True)
    with engine.connect() as connection:
        dry.commit(
            connection,
            batch(
                {"id": "1", "sku": "a", "qty": 5}, {"id": "2", "sku": "b", "qty": 2}, {"id": "3", "qty": "x"}
            ),
            Checkpoint(),
            LAST_PAGE,
            None,
        )

    figures = (dry.counts.created, dry.counts.updated, len(dry.dead_letters), dry.batches_committed)
    assert figures == (1, 1, 1, 0)
    assert rows(engine) == {"1": ("a", 1)} and stored_checkpoint(engine) == before and letters(engine) == []


def test_dead_letters_go_under_their_own_name_and_a_complete_pass_settles_older_ones(engine: Engine) -> None:
    with engine.begin() as connection:  # an entry from before this pass, under the name letters are filed
        deadletters.add(
            connection, "parent", "run-0", [DeadLetter("old", "{}", "bad")], datetime(2026, 1, 1, tzinfo=UTC)
        )
    write = writer(engine, dead_letters_under="parent", has_dead_letters=True)
    with engine.connect() as connection:
        write.commit(
            connection,
            batch({"id": "5", "qty": "x"}),
            Checkpoint(pass_started_at=PASS_START),
            LAST_PAGE,
            None,
        )

    assert letters(engine, "parent") == ["5"] and letters(engine, "items") == []


def test_a_writer_that_does_not_settle_at_pass_end_keeps_older_dead_letters(engine: Engine) -> None:
    with engine.begin() as connection:
        deadletters.add(
            connection, "parent", "run-0", [DeadLetter("old", "{}", "bad")], datetime(2026, 1, 1, tzinfo=UTC)
        )
    write = writer(
        engine, dead_letters_under="parent", has_dead_letters=True, settles_dead_letters_at_pass_end=False
    )
    with engine.connect() as connection:
        write.commit(
            connection,
            batch({"id": "5", "qty": "x"}),
            Checkpoint(pass_started_at=PASS_START),
            LAST_PAGE,
            None,
        )

    assert letters(engine, "parent") == ["5", "old"]


def test_write_only_leaves_the_checkpoint_alone(engine: Engine) -> None:
    write = writer(engine)
    with engine.connect() as connection:
        write.write_only(
            connection,
            batch({"id": "7", "sku": "g", "qty": 7}).with_dead_letters([DeadLetter("8", "{}", "gone")]),
        )

    assert rows(engine) == {"7": ("g", 7)} and stored_checkpoint(engine) is None and letters(engine) == ["8"]
