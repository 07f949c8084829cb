"""Drift: the collection changing under a client while it pages, at moments a test can count on.

With `SampleApiSettings.drift = Drift(every_pages=3, insert=2)`, every third page the API serves is followed
by two new items at the front of the order, which makes offset and page-number clients see items twice
(`delete` makes them skip items instead). The change is made after the page is built and before the
response is written, so it shows from the following request on, and `SampleApi.drift_events` lists exactly
which ids came and went.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal, TypeAlias

from fakeapi.dataset import Inventory

DriftKind: TypeAlias = Literal["insert", "delete"]
DriftEvent: TypeAlias = tuple[DriftKind, list[str]]


@dataclass(frozen=True, slots=True)
class Drift:
    """After every `every_pages` pages served, delete `delete` items from the front of the order, then
    insert `insert` new ones there; do that at most `stop_after` times (None: for as long as pages are
    served). A page counts when a collection request is answered 200 without an injected fault."""

    every_pages: int
    insert: int = 0
    delete: int = 0
    stop_after: int | None = None

    def __post_init__(self) -> None:
        if self.every_pages < 1:
            raise ValueError(f"every_pages must be >= 1, got {self.every_pages}")
        if self.insert < 0 or self.delete < 0 or (self.stop_after is not None and self.stop_after < 0):
            raise ValueError(f"insert, delete and stop_after must be >= 0, got {self}")


class InventoryDrift:
    """Counts pages served and applies the current `Drift` to the inventory; thread-safe.

    Counting restarts whenever a different `Drift` is set; the event history is kept across them.
    """

    def __init__(self, inventory: Inventory) -> None:
        self._inventory = inventory
        self._lock = threading.Lock()
        self._drift: Drift | None = None
        self._pages = 0
        self._occurrences = 0
        self._events: list[DriftEvent] = []

    def after_page(self, drift: Drift | None) -> None:
        """Record one page served under `drift`, and change the inventory when its turn has come."""
        with self._lock:
            if drift is not self._drift:
                self._drift, self._pages, self._occurrences = drift, 0, 0
            if drift is None:
                return
            self._pages += 1
            if self._pages % drift.every_pages != 0:
                return
            if drift.stop_after is not None and self._occurrences >= drift.stop_after:
                return
            self._occurrences += 1
            # Delete before inserting: the other order would just delete the items it had inserted.
            if drift.delete:
                self._events.append(("delete", self._inventory.delete_front(drift.delete)))
            if drift.insert:
                self._events.append(("insert", self._inventory.insert_front(drift.insert)))

    def events(self) -> list[DriftEvent]:
        """Every change made so far, oldest first: ("delete" | "insert", item ids in collection order)."""
        with self._lock:
            return [(kind, list(ids)) for kind, ids in self._events]
