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
from batchsync.sinks.mapping import MappedRow


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """What a batch did: the counts of rows written, and the rows the database refused, with why."""

    counts: WriteCounts
    rejected: list[tuple[MappedRow, str]] = field(default_factory=list)


class Sink(Protocol):
    @property
    def table(self) -> Table: ...

    def write(self, connection: Connection, rows: Sequence[MappedRow], synced_at: datetime) -> WriteOutcome:
        """Upsert `rows`; unchanged rows are not rewritten. Counts come from the database's own rows.

        A row the database refuses (a constraint, a trigger) is isolated and returned in `rejected`;
        every other row of the batch is still written.
        """
        ...

    def classify(self, connection: Connection, rows: Sequence[MappedRow]) -> WriteCounts:
        """What `write` would do, writing nothing (dry runs)."""
        ...

    def mark_seen(self, connection: Connection, keys: list[Any], seen_at: datetime) -> None:
        """Record that a sync saw these keys without writing them (e.g. dead-lettered records)."""
        ...

    def mark_missing(
        self, connection: Connection, seen_before: datetime, *, delete: bool, now: datetime
    ) -> int:
        """Soft-delete (or delete) rows not seen since `seen_before`; returns how many."""
        ...


def last_row_per_key(rows: Sequence[MappedRow]) -> list[MappedRow]:
    """One row per key, the last one winning, as the API's latest word on that record."""
    if len({row.key for row in rows}) == len(rows):
        return list(rows)
    latest = {row.key: row for row in rows}
    return list(latest.values())
