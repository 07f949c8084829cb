"""The sink seam: write a batch of rows inside the caller's transaction and say what changed.

The caller (the engine) owns the transaction, because the checkpoint that follows the batch must commit
in the same one; a sink never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Table

from batchsync.models import WriteCounts
from batchsync.sinks.mapping import ColumnsMapper, MappedRow


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """What a batch did: the counts of rows written, and the rows the database refused, with why."""

    counts: WriteCounts
    rejected: list[tuple[MappedRow, str]] = field(default_factory=list)


class Sink(Protocol):
    @property
    def table(self) -> Table: ...

    def write(
        self,
        connection: Connection,
        rows: Sequence[MappedRow],
        synced_at: datetime,
        *,
        isolate_refusals: bool = True,
    ) -> WriteOutcome:
        """Upsert `rows`; unchanged rows are not rewritten. Counts come from the database's own rows.

        A row the database refuses (a constraint, a trigger) is isolated and returned in `rejected`;
        every other row of the batch is still written. With `isolate_refusals` False, a sink whose
        database would need extra work to survive a refusal (PostgreSQL: a savepoint) may raise
        RowRefusedError instead, leaving the transaction for the caller to roll back.
        """
        ...

    def classify(self, connection: Connection, rows: Sequence[MappedRow]) -> WriteCounts:
        """What `write` would do, writing nothing (dry runs)."""
        ...

    def update_columns(
        self, connection: Connection, rows: Sequence[MappedRow], seen_at: datetime
    ) -> WriteCounts:
        """Set the destination's columns (`row.values`, in `destination.columns` order) on the rows
        that already exist with these keys, where the stored values differ, binding values as `write`
        does; every row is marked seen at `seen_at`. Nothing is created, no other column is touched.

        Counts `updated` (values differed, or the key has no row any more: it counts as updated, and
        the UPDATE finds nothing) and `unchanged`. A refused value raises (no row-by-row isolation).
        """
        ...

    def classify_updates(self, connection: Connection, rows: Sequence[MappedRow]) -> WriteCounts:
        """What `update_columns` would count, writing nothing (dry runs)."""
        ...

    def mark_seen(self, connection: Connection, keys: list[Any], seen_at: datetime) -> None:
        """Record that a sync saw these keys without writing them (e.g. dead-lettered records)."""
        ...

    def mark_missing(
        self, connection: Connection, seen_before: datetime, *, delete: bool, now: datetime
    ) -> int:
        """Soft-delete (or delete) rows not seen since `seen_before`; returns how many."""
        ...


def split_updates(
    rows: Sequence[MappedRow], stored: dict[Any, tuple[Any, ...]], mapper: ColumnsMapper
) -> tuple[list[MappedRow], list[Any]]:
    """For `update_columns`: the rows whose stored values (`stored`, by key, as read back) differ or
    are missing, and the keys of those that hold these values already."""
    changed: list[MappedRow] = []
    unchanged: list[Any] = []
    for row in rows:
        previous = stored.get(row.key)
        if previous is not None and mapper.same_as_stored(previous, list(row.values)):
            unchanged.append(row.key)
        else:
            changed.append(row)
    return changed, unchanged


def last_row_per_key(rows: Sequence[MappedRow]) -> list[MappedRow]:
    """One row per key, the last one winning, as the API's latest word on that record."""
    if len({row.key for row in rows}) == len(rows):
        return list(rows)
    latest = {row.key: row for row in rows}
    return list(latest.values())
