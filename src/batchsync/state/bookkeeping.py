"""The writes at a run's end (its record in `batchsync_runs`, releasing its lease) within one time budget.

They must survive a short outage, a server restart or a lock held for a moment, so they are tried again;
but a database that stays locked or unreachable must not keep the process alive for long (twenty retries
of a 30 s busy timeout once took 21 minutes). So every step of the bookkeeping shares one budget, which
also caps how long each try may wait for SQLite's write lock. When it is spent, the last error
propagates: the run's data and checkpoint are committed already, and the next run closes the record.

`BookkeepingPolicy` decides (pure, like http/retry.py); `Bookkeeping` owns the loop and the clock, which
tests inject.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Engine

from batchsync.database import database_error_reason, is_unavailable, wait_seconds_of, with_lock_wait

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BookkeepingPolicy:
    """How long the bookkeeping may wait for the database, all steps and tries together."""

    budget_seconds: float = 30.0
    pause_seconds: float = 0.5
    """Between two tries, while the database is unreachable (a restart takes a moment)."""
    first_lock_wait_seconds: float = 1.0
    """The first try gives up on a lock early, so the run's own error is printed before the long wait."""

    def lock_wait_seconds(self, attempt: int, elapsed_seconds: float) -> float:
        """How long try `attempt` (counting from 1) may wait for a lock another connection holds."""
        remaining = max(self.budget_seconds - elapsed_seconds, 0.0)
        return min(remaining, self.first_lock_wait_seconds) if attempt == 1 else remaining

    def pause_before_retry(self, elapsed_seconds: float) -> float | None:
        """Seconds to wait before the next try, or None: the budget is spent, give up."""
        remaining = self.budget_seconds - elapsed_seconds
        if remaining <= 0:
            return None
        return min(self.pause_seconds, remaining)


class Bookkeeping:
    """Runs the bookkeeping steps of one run's end against `engine`, all within `policy`'s budget.

    The budget starts when this object is made: make it when the run's work is over. `on_first_delay`
    is told the reason and the seconds left the first time a step has to be tried again, before waiting.
    """

    def __init__(
        self,
        engine: Engine,
        policy: BookkeepingPolicy | None = None,
        *,
        on_first_delay: Callable[[str, float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._engine = engine
        self.policy = policy or BookkeepingPolicy(budget_seconds=wait_seconds_of(engine))
        self._on_first_delay = on_first_delay
        self._clock = clock
        self._sleep = sleep
        self._started = clock()
        self._has_been_delayed = False

    def remaining_seconds(self) -> float:
        return max(self.policy.budget_seconds - (self._clock() - self._started), 0.0)

    def run(self, step: Callable[[Engine], T]) -> T:
        """`step(engine)`, tried again while the database is locked or unreachable and the budget lasts.

        The engine handed to `step` waits for locks no longer than the budget allows. Errors other than
        an unavailable database, and the last try's, propagate.
        """
        attempt = 0
        while True:
            attempt += 1
            elapsed = self._clock() - self._started
            lock_wait = self.policy.lock_wait_seconds(attempt, elapsed)
            try:
                return step(with_lock_wait(self._engine, lock_wait))
            except Exception as exc:  # which errors mean "unavailable" is database.py's to say
                if not is_unavailable(exc):
                    raise
                pause = self.policy.pause_before_retry(self._clock() - self._started)
                if pause is None:
                    raise
                if not self._has_been_delayed:
                    self._has_been_delayed = True
                    if self._on_first_delay is not None:
                        self._on_first_delay(database_error_reason(exc), self.remaining_seconds())
                self._sleep(pause)
