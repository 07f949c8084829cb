"""One text form for every moment batchsync stores as text, and earlier versions' texts still compare."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Connection, insert, select, text

from batchsync.database import open_database
from batchsync.state import deadletters, runs
from batchsync.state.deadletters import DeadLetter
from batchsync.state.tables import dead_letters, ensure_state_tables
from batchsync.timestamps import stamp

WHOLE_SECOND = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_stamp_is_utc_with_microseconds_even_at_a_whole_second() -> None:
    assert stamp(WHOLE_SECOND) == "2026-01-02T03:04:05.000000+00:00"
    assert stamp(datetime(2026, 1, 2, 8, 34, 5, 7, tzinfo=timezone(timedelta(hours=5, minutes=30)))) == (
        "2026-01-02T03:04:05.000007+00:00"
    )


def test_stamps_sort_as_text_as_their_moments_do() -> None:
    moments = [WHOLE_SECOND + timedelta(microseconds=step * 250_000) for step in range(-5, 6)]
    assert sorted(moments, key=stamp) == moments


def test_an_earlier_version_whole_second_text_sorts_before_any_later_stamp() -> None:
    old = WHOLE_SECOND.isoformat()  # what bare isoformat() wrote: no fraction
    assert old == "2026-01-02T03:04:05+00:00"
    assert old < stamp(WHOLE_SECOND + timedelta(microseconds=1))
    assert old > stamp(WHOLE_SECOND - timedelta(microseconds=1))


def _old_letter(connection: Connection, created_at: str) -> None:
    connection.execute(
        insert(dead_letters).values(
            pipeline="items", run_id="r0", key="k0", record="{}", error="old", created_at=created_at
        )
    )


def test_an_earlier_version_whole_second_text_is_not_before_its_own_moment(database_url: str) -> None:
    engine = open_database(database_url)
    try:
        ensure_state_tables(engine)
        with engine.begin() as connection:  # a letter an earlier version wrote at a whole second
            _old_letter(connection, WHOLE_SECOND.isoformat())
        with engine.begin() as connection:
            kept = deadletters.remove_older_than(connection, "items", WHOLE_SECOND)
            later = WHOLE_SECOND + timedelta(microseconds=1)
            removed = deadletters.remove_older_than(connection, "items", later)
    finally:
        engine.dispose()
    assert (kept, removed) == (0, 1)


def test_an_earlier_version_text_compares_against_a_new_bound_by_its_moment(database_url: str) -> None:
    engine = open_database(database_url)
    try:
        ensure_state_tables(engine)
        before = WHOLE_SECOND - timedelta(seconds=1)
        with engine.begin() as connection:  # written after the migration by a process of an earlier version
            _old_letter(connection, before.isoformat())
            connection.execute(
                text(
                    "INSERT INTO batchsync_runs (run_id, pipeline, trigger, status, started_at, finished_at,"
                    " created) VALUES ('r0', 'items', 'manual', 'succeeded', :at, :at, 1)"
                ),
                {"at": WHOLE_SECOND.isoformat()},
            )
        with engine.begin() as connection:
            since_earlier = runs.synced_since(connection, "items", WHOLE_SECOND - timedelta(microseconds=1))
            since_later = runs.synced_since(connection, "items", WHOLE_SECOND + timedelta(microseconds=1))
            kept = deadletters.remove_older_than(connection, "items", before - timedelta(microseconds=1))
            removed = deadletters.remove_older_than(connection, "items", before + timedelta(microseconds=1))
            deadletters.add(connection, "items", "r1", [DeadLetter("k1", "{}", "new")], WHOLE_SECOND)
            new_text = connection.execute(
                select(dead_letters.c.created_at).where(dead_letters.c.key == "k1")
            ).scalar_one()
    finally:
        engine.dispose()
    assert since_earlier == WHOLE_SECOND and since_later is None
    assert (kept, removed) == (0, 1)
    assert new_text == stamp(WHOLE_SECOND)
