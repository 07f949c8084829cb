"""PostgreSQL write path, side by side in one run: how fast can one batch of mapped rows be upserted?

    .venv/bin/python bench/postgres_upsert.py [--records 100000] [--batch-sizes 200,1000] [--repeat 3]

Starts a throwaway PostgreSQL (tests/pgserver.py), creates the demo's 8-column `products` table, maps
`--records` synthetic sample-API items with RowMapper, and writes them in batches, one transaction per
batch as the engine does, three times over: a first load (all created), a rerun (all unchanged, only
marked as seen) and a third pass where every tenth record changed. Variants:

  PostgresSink.write            whatever the sink does today (from 100 rows: COPY into a temp table
                                created per batch, merge, seen-update by join only if rows were left)
  insertmanyvalues+RETURNING    SQLAlchemy's batched `INSERT … VALUES … ON CONFLICT … RETURNING` over a
                                list of dicts, then `UPDATE … WHERE key IN (unwritten keys)`: the sink's
                                path before COPY, and still its path below 100 rows
  COPY+merge, temp per batch    COPY into `CREATE TEMP TABLE … (LIKE products) ON COMMIT DROP`, one
                                `INSERT … SELECT … ON CONFLICT … RETURNING`, then always the seen-update
                                as a join with the temp table, `DROP TABLE`
  COPY+merge, reused temp       the same into one session-long temp table (`ON COMMIT DELETE ROWS`)
  COPY+merge, seen by key list  temp per batch, seen-update by `UPDATE … WHERE key IN (unwritten keys)`
  executemany, no RETURNING     reference only: psycopg's executemany of the upsert, which cannot count

Every variant must return the same counts and leave byte-identical table contents (asserted). Figures are
rows/s, best of `--repeat`; ratios are against insertmanyvalues+RETURNING.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from psycopg.types.json import Jsonb
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    Table,
    create_engine,
    literal_column,
    null,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert

from batchsync.config import DestinationConfig
from batchsync.demo import DEMO_PIPELINE, demo_config
from batchsync.models import WriteCounts
from batchsync.sampleapi.inventory import make_item
from batchsync.sinks.base import last_row_per_key
from batchsync.sinks.mapping import MappedRow, RowMapper
from batchsync.sinks.postgres import PostgresSink
from batchsync.sinks.schema import (
    DELETED_AT_COLUMN,
    HASH_COLUMN,
    SEEN_AT_COLUMN,
    SYNCED_AT_COLUMN,
    destination_table,
    ensure_table,
)

# The throwaway server and the fake API's item revisions live in the test tree.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fakeapi.catalog import revise_item
from pgserver import PostgresServer

BOOKKEEPING = [HASH_COLUMN, SYNCED_AT_COLUMN, SEEN_AT_COLUMN, DELETED_AT_COLUMN]
LOAD_AT = datetime(2026, 1, 1, tzinfo=UTC)
RERUN_AT = LOAD_AT + timedelta(hours=1)
UPDATE_AT = LOAD_AT + timedelta(hours=2)
KEYS_PER_STATEMENT = 1000


def destination() -> DestinationConfig:
    config = demo_config("http://127.0.0.1:1", Path("unused.db"))
    return DestinationConfig.model_validate(config["pipelines"][DEMO_PIPELINE]["destination"])


class Writer(Protocol):
    def write(
        self, connection: Connection, rows: Sequence[MappedRow], synced_at: datetime
    ) -> WriteCounts | None:
        """Upsert one batch inside the caller's transaction; counts, or None when the variant cannot count."""
        ...


class SinkWriter:
    def __init__(self, dest: DestinationConfig) -> None:
        self._sink = PostgresSink(dest)

    def write(self, connection: Connection, rows: Sequence[MappedRow], synced_at: datetime) -> WriteCounts:
        outcome = self._sink.write(connection, rows, synced_at)
        assert not outcome.rejected
        return outcome.counts


class Upserts:
    """What the variants share: the table, its column names, the upsert and the seen-update."""

    def __init__(self, dest: DestinationConfig) -> None:
        self.table = destination_table(dest)
        self.names = [*dest.columns, *BOOKKEEPING]
        self.key = self.table.c[dest.primary_key]
        self.json_indexes = [i for i, column in enumerate(dest.columns.values()) if column.type == "json"]
        excluded = insert(self.table).excluded
        self.set_ = {name: excluded[name] for name in self.names if name != dest.primary_key}
        self.changed = self.table.c[HASH_COLUMN].is_distinct_from(excluded[HASH_COLUMN])

    def values(self, row: MappedRow, synced_at: datetime) -> dict[str, Any]:
        return dict(zip(self.names, (*row.values, row.content_hash, synced_at, synced_at, None), strict=True))

    def mark_seen(self, connection: Connection, keys: list[Any], seen_at: datetime) -> None:
        for start in range(0, len(keys), KEYS_PER_STATEMENT):
            connection.execute(
                update(self.table)
                .where(self.key.in_(keys[start : start + KEYS_PER_STATEMENT]))
                .values({SEEN_AT_COLUMN: seen_at, DELETED_AT_COLUMN: None})
            )

    def settle(
        self, connection: Connection, unique: list[MappedRow], returned: Sequence[Any], synced_at: datetime
    ) -> WriteCounts:
        written = {row[0] for row in returned}
        created = sum(1 for row in returned if row[1])
        self.mark_seen(connection, [row.key for row in unique if row.key not in written], synced_at)
        return WriteCounts(created, len(written) - created, len(unique) - len(written))


class InsertManyValues(Upserts):
    """The sink's path before COPY: SQLAlchemy's insertmanyvalues batching of a RETURNING upsert."""

    def __init__(self, dest: DestinationConfig) -> None:
        super().__init__(dest)
        self._upsert = (
            insert(self.table)
            .on_conflict_do_update(index_elements=[self.key], set_=self.set_, where=self.changed)
            .returning(self.key, literal_column("xmax = 0"))
        )

    def write(self, connection: Connection, rows: Sequence[MappedRow], synced_at: datetime) -> WriteCounts:
        unique = last_row_per_key(rows)
        with connection.begin_nested():
            returned = connection.execute(self._upsert, [self.values(r, synced_at) for r in unique]).all()
        return self.settle(connection, unique, returned, synced_at)


class CopyMerge(Upserts):
    """COPY the batch into a temp table, one `INSERT … SELECT … ON CONFLICT … RETURNING`, the seen-update.

    `is_reused`: one session-long temp table (`ON COMMIT DELETE ROWS`, emptied after each batch) instead
    of one created and dropped per batch. `is_seen_by_join`: stamp the batch's rows not written by the
    merge through a join with the temp table, instead of `UPDATE … WHERE key IN (<unwritten keys>)`.
    """

    def __init__(self, dest: DestinationConfig, *, is_reused: bool, is_seen_by_join: bool) -> None:
        super().__init__(dest)
        name = "_bench_stage_reused" if is_reused else "_bench_stage"
        columns = [Column(c.name, c.type) for c in self.table.c if c.name in self.names]
        stage = Table(name, MetaData(), *columns)
        self._merge = (
            insert(self.table)
            .from_select(self.names, select(*stage.c))
            .on_conflict_do_update(index_elements=[self.key], set_=self.set_, where=self.changed)
            .returning(self.key, literal_column("xmax = 0"))
        )
        self._copy_sql = f"COPY {name} ({', '.join(self.names)}) FROM STDIN"
        if is_reused:
            self._create_sql = (
                f"CREATE TEMP TABLE IF NOT EXISTS {name} (LIKE {self.table.name}) ON COMMIT DELETE ROWS"
            )
            self._clear_sql = f"DELETE FROM {name}"
        else:
            self._create_sql = f"CREATE TEMP TABLE {name} (LIKE {self.table.name}) ON COMMIT DROP"
            self._clear_sql = f"DROP TABLE {name}"
        seen, deleted = self.table.c[SEEN_AT_COLUMN], self.table.c[DELETED_AT_COLUMN]
        self._seen_by_join = (
            update(self.table)
            .where(self.key == stage.c[self.key.name])
            .where(tuple_(seen, deleted).is_distinct_from(tuple_(stage.c[SEEN_AT_COLUMN], null())))
            .values({SEEN_AT_COLUMN: stage.c[SEEN_AT_COLUMN], DELETED_AT_COLUMN: None})
            if is_seen_by_join
            else None
        )

    def write(self, connection: Connection, rows: Sequence[MappedRow], synced_at: datetime) -> WriteCounts:
        unique = last_row_per_key(rows)
        with connection.begin_nested():
            connection.exec_driver_sql(self._create_sql)
            self._copy(connection, unique, synced_at)
            returned = connection.execute(self._merge).all()
            if self._seen_by_join is None:
                counts = self.settle(connection, unique, returned, synced_at)
            else:
                connection.execute(self._seen_by_join)  # every row of the batch not stamped by the merge
                created = sum(1 for row in returned if row[1])
                counts = WriteCounts(created, len(returned) - created, len(unique) - len(returned))
            connection.exec_driver_sql(self._clear_sql)
        return counts

    def _copy(self, connection: Connection, rows: list[MappedRow], synced_at: datetime) -> None:
        driver = connection.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor, cursor.copy(self._copy_sql) as copy:
            for row in rows:
                values = list(row.values)
                for index in self.json_indexes:
                    if values[index] is not None:
                        values[index] = Jsonb(values[index])
                copy.write_row((*values, row.content_hash, synced_at, synced_at, None))


class ExecuteManyNoReturning(Upserts):
    """Reference: the upsert through psycopg's executemany, then the seen-update for rows it skipped."""

    def __init__(self, dest: DestinationConfig) -> None:
        super().__init__(dest)
        self._upsert = insert(self.table).on_conflict_do_update(
            index_elements=[self.key], set_=self.set_, where=self.changed
        )

    def write(self, connection: Connection, rows: Sequence[MappedRow], synced_at: datetime) -> None:
        unique = last_row_per_key(rows)
        with connection.begin_nested():
            connection.execute(self._upsert, [self.values(r, synced_at) for r in unique])
        # Without RETURNING the rows written are unknown: stamp every row of the batch not stamped yet.
        for start in range(0, len(unique), KEYS_PER_STATEMENT):
            keys = [row.key for row in unique[start : start + KEYS_PER_STATEMENT]]
            connection.execute(
                update(self.table)
                .where(self.key.in_(keys), self.table.c[SEEN_AT_COLUMN].is_distinct_from(synced_at))
                .values({SEEN_AT_COLUMN: synced_at, DELETED_AT_COLUMN: None})
            )
        return None


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    rows: list[MappedRow]
    synced_at: datetime
    expected: WriteCounts


def phases(records: int) -> list[Phase]:
    dest = destination()
    mapper = RowMapper(dest)
    created = LOAD_AT - timedelta(days=30)
    items = [make_item(seq, 7, created + timedelta(seconds=seq)) for seq in range(1, records + 1)]
    rng = random.Random(11)
    revised = [revise_item(item, rng, UPDATE_AT) if i % 10 == 0 else item for i, item in enumerate(items)]
    loaded = [mapper.map(item) for item in items]
    changed = len(range(0, records, 10))
    return [
        Phase("first load", loaded, LOAD_AT, WriteCounts(created=records)),
        Phase("rerun", loaded, RERUN_AT, WriteCounts(unchanged=records)),
        Phase(
            "10% updated",
            [mapper.map(item) for item in revised],
            UPDATE_AT,
            WriteCounts(updated=changed, unchanged=records - changed),
        ),
    ]


def contents(engine: Engine, table: Table) -> str:
    with engine.connect() as connection:
        digest = connection.execute(
            text(
                "SELECT count(*) || ':' || md5(string_agg(t::text, E'\\n' ORDER BY t.item_id))"
                f" FROM {table.name} t"
            )
        ).scalar_one()
    return str(digest)


def run_phase(
    engine: Engine, writer: Writer, phase: Phase, batch_size: int
) -> tuple[float, WriteCounts | None]:
    counts: WriteCounts | None = WriteCounts()
    with engine.connect() as connection:
        started = time.perf_counter()
        for start in range(0, len(phase.rows), batch_size):
            with connection.begin():
                batch_counts = writer.write(
                    connection, phase.rows[start : start + batch_size], phase.synced_at
                )
            counts = None if counts is None or batch_counts is None else counts + batch_counts
        return time.perf_counter() - started, counts


def measure(
    engine: Engine, writers: dict[str, Writer], all_phases: list[Phase], batch_size: int, repeat: int
) -> dict[tuple[str, str], float]:
    """Best seconds per (variant, phase); asserts counts and contents match across variants and repeats."""
    table = destination_table(destination())
    best: dict[tuple[str, str], float] = {}
    reference: dict[str, str] = {}
    for attempt in range(repeat):
        for name, writer in writers.items():  # interleaved, so drift in the machine hits every variant
            with engine.begin() as connection:
                connection.execute(text(f"TRUNCATE {table.name}"))
            for phase in all_phases:
                seconds, counts = run_phase(engine, writer, phase, batch_size)
                if counts is not None:
                    assert counts == phase.expected, f"{name}, {phase.name}: {counts} != {phase.expected}"
                digest = contents(engine, table)
                assert reference.setdefault(phase.name, digest) == digest, (
                    f"{name}, {phase.name}: contents differ"
                )
                key = (name, phase.name)
                best[key] = min(best.get(key, float("inf")), seconds)
            print(f"  batch {batch_size}, attempt {attempt + 1}/{repeat}: {name} done", file=sys.stderr)
    return best


def report(
    best: dict[tuple[str, str], float],
    names: list[str],
    phase_names: list[str],
    records: int,
    batch_size: int,
) -> None:
    reference = "insertmanyvalues+RETURNING"
    print(f"\nbatch size {batch_size}: rows/s (x = speed vs {reference})")
    print(f"{'variant':30}" + "".join(f"{p:>22}" for p in phase_names))
    for name in names:
        cells = []
        for phase in phase_names:
            seconds = best[(name, phase)]
            ratio = best[(reference, phase)] / seconds
            cells.append(f"{records / seconds:>14,.0f} {ratio:5.2f}x")
        print(f"{name:30}" + "".join(f"{cell:>22}" for cell in cells))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch-sizes", default="200,1000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    batch_sizes = [int(size) for size in args.batch_sizes.split(",")]

    dest = destination()
    writers: dict[str, Writer] = {
        "PostgresSink.write": SinkWriter(dest),
        "insertmanyvalues+RETURNING": InsertManyValues(dest),
        "COPY+merge, temp per batch": CopyMerge(dest, is_reused=False, is_seen_by_join=True),
        "COPY+merge, reused temp": CopyMerge(dest, is_reused=True, is_seen_by_join=True),
        "COPY+merge, seen by key list": CopyMerge(dest, is_reused=False, is_seen_by_join=False),
        "executemany, no RETURNING": ExecuteManyNoReturning(dest),
    }
    all_phases = phases(args.records)
    with PostgresServer() as server:
        engine = create_engine(server.url)
        try:
            ensure_table(engine, destination_table(dest), dest)
            results = {size: measure(engine, writers, all_phases, size, args.repeat) for size in batch_sizes}
            version = server_version(engine)
        finally:
            engine.dispose()
    print(f"\n{args.records:,} rows, 8 columns, one transaction per batch, best of {args.repeat}; {version}")
    for size, best in results.items():
        report(best, list(writers), [phase.name for phase in all_phases], args.records, size)


def server_version(engine: Engine) -> str:
    with engine.connect() as connection:
        return "PostgreSQL " + str(connection.execute(text("SHOW server_version")).scalar_one()).split()[0]


if __name__ == "__main__":
    main()
