"""A writer process commits the chunks waiting for it together (`LocalCommits.commit_together`), on a
real SQLite file and a real PostgreSQL: one transaction when no key is in two of them, and always the
outcome of committing them one by one: the same rows, counts, dead letters and checkpoint, and on a
failure (on_record_error: fail) the chunks before the failing one committed and the error raised."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine
from test_batches import DESTINATION, engine, letters, rows, stored_checkpoint, writer

from batchsync.engine.batches import BatchPosition, BatchWriter
from batchsync.engine.commits import LocalCommits, PageChunk
from batchsync.engine.records import RecordRouter
from batchsync.errors import RecordError
from batchsync.models import Checkpoint, JSONObject
from batchsync.redaction import Redactor
from batchsync.sinks.mapping import RowMapper

__all__ = ["engine"]  # the fixture, shared with test_batches


def page(number: int, *records: JSONObject, last: bool = False) -> PageChunk:
    """Page `number`'s records, ending at the next page's cursor."""
    position = BatchPosition(cursor=None if last else number + 1, skip_records=0, is_complete=last)
    return PageChunk(list(records), position, expected_total=None)


def commits(engine: Engine, connection: Any, *, fail: bool = False) -> tuple[LocalCommits, BatchWriter]:
    write = writer(engine, fail_on_record_error=fail)
    router = RecordRouter(
        RowMapper(DESTINATION), record_filter=(), redactor=Redactor(), fail_on_record_error=fail
    )
    return LocalCommits(router, write, connection, Checkpoint()), write


def test_chunks_with_no_key_in_common_commit_in_one_transaction(engine: Engine) -> None:
    chunks = [
        page(1, {"id": "1", "sku": "a", "qty": 1}, {"id": "2", "sku": "b", "qty": 2}),
        page(2, {"id": "3", "sku": "c", "qty": 3}),
        page(3, {"id": "4", "sku": "d", "qty": 4}),
    ]
    with engine.connect() as connection:
        local, write = commits(engine, connection)
        committed = list(local.commit_together(chunks))

    assert [count for _, count in committed] == [3]
    assert committed[0][0] == stored_checkpoint(engine) == local.last
    assert (local.last.cursor, local.last.pass_records) == (4, 4)
    assert rows(engine) == {"1": ("a", 1), "2": ("b", 2), "3": ("c", 3), "4": ("d", 4)}
    assert (write.counts.created, write.records, write.batches_committed) == (4, 4, 1)


def test_a_key_in_two_chunks_commits_them_one_by_one_with_the_counts_of_one_by_one(engine: Engine) -> None:
    chunks = [
        page(1, {"id": "1", "sku": "a", "qty": 1}),
        page(2, {"id": "2", "sku": "b", "qty": 2}),
        page(3, {"id": "1", "sku": "a", "qty": 9}),  # moved along while paging: seen again, changed
    ]
    with engine.connect() as connection:
        local, write = commits(engine, connection)
        committed = list(local.commit_together(chunks))

    assert [count for _, count in committed] == [1, 1, 1]
    assert [checkpoint.cursor for checkpoint, _ in committed] == [2, 3, 4]
    assert rows(engine) == {"1": ("a", 9), "2": ("b", 2)}
    assert (write.counts.created, write.counts.updated, write.batches_committed) == (2, 1, 3)


def test_a_record_that_fails_leaves_the_chunks_before_it_committed_and_raises(engine: Engine) -> None:
    chunks = [
        page(1, {"id": "1", "sku": "a", "qty": 1}),
        page(2, {"id": "2", "sku": "b", "qty": 2}),
        page(3, {"id": "3", "sku": "c", "qty": "x"}),  # not an integer
        page(4, {"id": "4", "sku": "d", "qty": 4}),
    ]
    with engine.connect() as connection:
        local, _ = commits(engine, connection, fail=True)
        committed: list[tuple[Checkpoint, int]] = []
        with pytest.raises(RecordError, match="qty"):
            committed.extend(local.commit_together(chunks))

    assert [count for _, count in committed] == [2]
    assert stored_checkpoint(engine) == local.last and local.last.cursor == 3
    assert rows(engine) == {"1": ("a", 1), "2": ("b", 2)}


@pytest.mark.parametrize("fail", [True, False], ids=["on_record_error-fail", "dead_letter"])
def test_a_row_the_database_refuses_ends_as_it_would_one_by_one(engine: Engine, fail: bool) -> None:
    """The second chunk's row breaks the unique sku: with fail, the merged transaction is rolled back and
    the chunks are committed one by one up to it; with dead letters, it is one transaction all the same."""
    chunks = [
        page(1, {"id": "1", "sku": "a", "qty": 1}),
        page(2, {"id": "2", "sku": "a", "qty": 2}, {"id": "3", "sku": "c", "qty": 3}),
        page(3, {"id": "4", "sku": "d", "qty": 4}, last=True),
    ]
    with engine.connect() as connection:
        local, write = commits(engine, connection, fail=fail)
        committed: list[tuple[Checkpoint, int]] = []
        if fail:
            with pytest.raises(RecordError, match="record 2"):
                committed.extend(local.commit_together(chunks))
        else:
            committed.extend(local.commit_together(chunks))

    if fail:
        assert [count for _, count in committed] == [1]
        assert rows(engine) == {"1": ("a", 1)}
        assert stored_checkpoint(engine) == local.last and local.last.cursor == 2
        assert letters(engine) == []
    else:
        assert [count for _, count in committed] == [3]
        assert rows(engine) == {"1": ("a", 1), "3": ("c", 3), "4": ("d", 4)}
        assert stored_checkpoint(engine) == local.last and local.last.is_complete
        assert letters(engine) == ["2"]
        assert (write.counts.created, write.batches_committed) == (3, 1)


def test_the_writer_process_takes_the_chunks_waiting_while_they_fit_one_batch() -> None:
    """Over a real pipe: chunks already sent are taken together up to `db_batch_size` records; the one
    that would not fit starts the next group; nothing waits for a chunk not sent yet; End ends it."""
    import socket
    from multiprocessing.connection import Connection as Pipe

    from batchsync.engine.offload.child import _Waiting
    from batchsync.engine.offload.wire import Chunk, End

    ours, theirs = socket.socketpair()
    run, writer_end = Pipe(ours.detach()), Pipe(theirs.detach())
    position = BatchPosition(cursor=1, skip_records=0, is_complete=False)
    try:
        sizes = [200, 200, 200, 200, 200, 200]
        for size in sizes:
            run.send(Chunk("[]", size, position, None, (0, 0)))
        waiting = _Waiting(writer_end)
        first = waiting.take(500)
        second = waiting.take(1000)
        assert [[chunk.size for chunk in group] for group in (first, second) if group] == [
            [200, 200],
            [200, 200, 200, 200],
        ]
        run.send(Chunk("[]", 50, position, None, (0, 0)))
        run.send(End())
        third = waiting.take(1000)
        assert third is not None and [chunk.size for chunk in third] == [50]
        assert waiting.take(1000) is None
    finally:
        run.close()
        writer_end.close()
