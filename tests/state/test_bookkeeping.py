"""The bookkeeping at a run's end waits for an unavailable database within one budget, never longer.

The policy and the loop are checked on an injected clock; one test holds a real SQLite lock to show the
budget also caps the wait inside SQLite (its busy timeout), whatever the URL's timeout says.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from batchsync.database import open_database
from batchsync.errors import DatabaseUnavailableError, RowRefusedError
from batchsync.state.bookkeeping import Bookkeeping, BookkeepingPolicy


class FakeClock:
    """Time that moves only when the code under test sleeps or a step says it waited."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def locked() -> OperationalError:
    return OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))


@pytest.fixture
def engine() -> Engine:
    return create_engine("sqlite://")


def test_the_first_try_gives_up_on_a_lock_early_and_later_tries_get_what_is_left() -> None:
    policy = BookkeepingPolicy(budget_seconds=30, first_lock_wait_seconds=1)

    assert policy.lock_wait_seconds(1, elapsed_seconds=0) == 1
    assert policy.lock_wait_seconds(2, elapsed_seconds=1.5) == 28.5
    assert policy.lock_wait_seconds(3, elapsed_seconds=31) == 0


@given(elapsed=st.floats(min_value=0, max_value=100), budget=st.floats(min_value=0.1, max_value=60))
def test_no_pause_goes_past_the_budget(elapsed: float, budget: float) -> None:
    pause = BookkeepingPolicy(budget_seconds=budget, pause_seconds=0.5).pause_before_retry(elapsed)

    if elapsed >= budget:
        assert pause is None
    else:
        assert pause is not None and 0 < pause <= min(0.5, budget - elapsed)


def test_a_database_that_stays_unavailable_is_given_up_on_when_the_budget_is_spent(engine: Engine) -> None:
    clock = FakeClock()
    delays: list[tuple[str, float]] = []
    bookkeeping = Bookkeeping(
        engine,
        BookkeepingPolicy(budget_seconds=5, pause_seconds=0.5),
        on_first_delay=lambda reason, left: delays.append((reason, left)),
        clock=clock,
        sleep=clock.sleep,
    )
    tries = 0

    def step(_engine: Engine) -> None:
        nonlocal tries
        tries += 1
        clock.now += 0.25  # each try waits a little for the lock before failing
        raise locked()

    with pytest.raises(OperationalError):
        bookkeeping.run(step)

    assert clock.now - 1000.0 <= 5 + 0.25, "the last try starts within the budget"
    assert tries == 8 and clock.sleeps == [0.5] * 6 + [0.25], "the last pause ends with the budget"
    assert delays == [("database is locked", 4.75)], "told once, before the first pause"


def test_steps_share_the_budget_so_the_second_gets_one_quick_try(engine: Engine) -> None:
    clock = FakeClock()
    bookkeeping = Bookkeeping(engine, BookkeepingPolicy(budget_seconds=2), clock=clock, sleep=clock.sleep)

    def step(_engine: Engine) -> None:
        raise locked()

    with pytest.raises(OperationalError):
        bookkeeping.run(step)
    sleeps_for_the_first = len(clock.sleeps)
    with pytest.raises(OperationalError):
        bookkeeping.run(step)

    assert sleeps_for_the_first == 4 and len(clock.sleeps) == 4, "the spent budget leaves no pause"
    assert bookkeeping.remaining_seconds() == 0


def test_a_database_back_within_the_budget_gets_the_step_done(engine: Engine) -> None:
    clock = FakeClock()
    bookkeeping = Bookkeeping(engine, BookkeepingPolicy(budget_seconds=30), clock=clock, sleep=clock.sleep)
    outcomes = iter([locked(), locked(), None])

    def step(_engine: Engine) -> str:
        error = next(outcomes)
        if error is not None:
            raise error
        return "recorded"

    assert bookkeeping.run(step) == "recorded"
    assert clock.sleeps == [0.5, 0.5]


def test_an_error_that_is_not_an_unavailable_database_is_not_tried_again(engine: Engine) -> None:
    clock = FakeClock()
    bookkeeping = Bookkeeping(engine, clock=clock, sleep=clock.sleep)

    def step(_engine: Engine) -> None:
        raise IntegrityError("UPDATE", {}, sqlite3.IntegrityError("NOT NULL constraint failed"))

    with pytest.raises(IntegrityError):
        bookkeeping.run(step)
    assert clock.sleeps == []


def test_a_real_lock_is_waited_for_only_as_long_as_the_budget_not_the_busy_timeout(tmp_path: Path) -> None:
    database = tmp_path / "sync.db"
    engine = open_database(f"sqlite:///{database}?timeout=30", sink_errors=False)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    locker = sqlite3.connect(database, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    bookkeeping = Bookkeeping(engine, BookkeepingPolicy(budget_seconds=0.6, first_lock_wait_seconds=0.2))

    def insert_row(bounded: Engine) -> None:
        with bounded.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))

    began = time.monotonic()
    try:
        with pytest.raises(OperationalError, match="database is locked"):
            bookkeeping.run(insert_row)
        waited = time.monotonic() - began
    finally:
        locker.rollback()
        locker.close()

    with engine.begin() as connection:  # and the engine's own transactions wait as configured again
        connection.execute(text("INSERT INTO t VALUES (2)"))
    engine.dispose()
    assert 0.5 <= waited < 3, waited


def test_an_unavailable_database_met_through_the_seam_is_waited_out_and_a_refusal_is_not(
    engine: Engine,
) -> None:
    clock = FakeClock()
    bookkeeping = Bookkeeping(engine, BookkeepingPolicy(budget_seconds=30), clock=clock, sleep=clock.sleep)
    outcomes = iter([DatabaseUnavailableError("database is locked"), None])

    def step(_engine: Engine) -> str:
        error = next(outcomes)
        if error is not None:
            raise error
        return "recorded"

    assert bookkeeping.run(step) == "recorded"
    assert clock.sleeps == [0.5]

    def refused(_engine: Engine) -> None:
        raise RowRefusedError("NOT NULL constraint failed: batchsync_runs.status")

    with pytest.raises(RowRefusedError):
        bookkeeping.run(refused)
    assert clock.sleeps == [0.5], "a refusal is not tried again"
