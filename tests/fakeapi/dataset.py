"""The fake API's inventory: the product's deterministic items, changed by tests while a sync runs.

Tests mutate it (update, add, insert at the front, delete) and the server reads it through immutable views:
every change replaces the current `Snapshot`, so a page is always cut from one consistent
version of the collection. Time is a logical clock: `BASE_TIME` plus one second per tick, one tick per
created or changed item, so every change carries a strictly larger `last_modified_time`.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from batchsync.sampleapi import inventory
from batchsync.sampleapi.inventory import BASE_TIME, Item, StoredItem, parse_timestamp
from fakeapi.catalog import make_item, revise_item

__all__ = ["BASE_TIME", "Inventory", "InventoryView", "StoredItem", "modification_key", "parse_timestamp"]


_MAX_CACHED_VIEWS = 32  # per snapshot; a handful of (filter, sort) pairs covers every client


@dataclass(frozen=True, slots=True)
class InventoryView:
    """An immutable selection of the collection, in the order a client pages through it."""

    rows: tuple[StoredItem, ...]
    positions: Mapping[str, int]
    is_sorted_by_modified: bool

    def position_of(self, item_id: str) -> int | None:
        return self.positions.get(item_id)


class Snapshot:
    """One version of the collection, never changed, with the views over it cached; thread-safe."""

    def __init__(self, rows: Sequence[StoredItem]) -> None:
        self.rows = tuple(rows)
        self._lock = threading.Lock()
        self._views: dict[tuple[datetime | None, bool], InventoryView] = {}

    def view(self, modified_after: datetime | None, *, sort_by_modified: bool) -> InventoryView:
        """The product's selection (`inventory.select`), with the position of each item."""
        key = (modified_after, sort_by_modified)
        with self._lock:
            if key in self._views:
                return self._views[key]
            selected = tuple(inventory.select(self.rows, modified_after, sort_by_modified))
            if len(self._views) >= _MAX_CACHED_VIEWS:
                self._views.clear()
            positions = {row.item_id: index for index, row in enumerate(selected)}
            view = self._views[key] = InventoryView(selected, positions, sort_by_modified)
            return view


def modification_key(item: Item) -> tuple[datetime, str]:
    """Sort key of an item dict for `sort=last_modified_time`: (last_modified_time, item_id)."""
    modified, item_id = item["last_modified_time"], item["item_id"]
    assert isinstance(modified, str) and isinstance(item_id, str)
    return (parse_timestamp(modified), item_id)


class Inventory:
    """The collection, starting as the product's `Inventory(size, seed)`, guarded by one lock.

    Items are never changed in place: a change replaces the stored item and the snapshot, so views handed
    to the server stay valid while tests keep mutating. Methods that take ids raise KeyError, before
    changing anything, when an id is not in the collection.
    """

    def __init__(self, size: int = 1000, seed: int = 0) -> None:
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        self._seed = seed
        self._lock = threading.Lock()
        created = (
            StoredItem.of(make_item(n, seed, BASE_TIME + timedelta(seconds=n))) for n in range(1, size + 1)
        )
        self._snapshot = Snapshot(tuple(created))  # item n created at tick n
        self._ticks = size
        self._next_seq = size + 1
        self._rows: list[StoredItem] = list(self._snapshot.rows)

    # --- reading -----------------------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)

    def items(self) -> list[Item]:
        """Fresh copies of every item in collection order; changing them does not change the inventory."""
        with self._lock:
            rows = list(self._rows)
        return [_copy(row) for row in rows]

    def get(self, item_id: str) -> Item | None:
        """A copy of the item with `item_id`, or None when there is none."""
        with self._lock:
            row = next((row for row in self._rows if row.item_id == item_id), None)
        return None if row is None else _copy(row)

    def modified_since(self, value: str) -> list[Item]:
        """Items whose last_modified_time is strictly after `value` (ISO-8601), in collection order."""
        return [_copy(row) for row in self.view(parse_timestamp(value), sort_by_modified=False).rows]

    def ordered_by_modified(self) -> list[Item]:
        """Every item ordered by (last_modified_time, item_id), the order of `sort=last_modified_time`."""
        return [_copy(row) for row in self.view(None, sort_by_modified=True).rows]

    def view(self, modified_after: datetime | None, *, sort_by_modified: bool) -> InventoryView:
        """The current selection the server pages through; cached until the next mutation."""
        with self._lock:
            snapshot = self._snapshot
        return snapshot.view(modified_after, sort_by_modified=sort_by_modified)

    def select(self, modified_after: datetime | None, by_modified: bool) -> Sequence[StoredItem]:
        """The product's `Items.select`: the current view's rows."""
        return self.view(modified_after, sort_by_modified=by_modified).rows

    def find(self, item_id: str) -> StoredItem | None:
        """The product's `Items.find`: the stored item with `item_id` in the current version, or None."""
        view = self.view(None, sort_by_modified=False)
        position = view.position_of(item_id)
        return None if position is None else view.rows[position]

    # --- changing ----------------------------------------------------------------------------------------

    def update(self, count: int, rng_seed: int | None = None) -> list[str]:
        """Change `count` distinct items picked at random (reproducibly); returns their ids in change order.

        Without `rng_seed` the pick depends on the seed and the clock, so repeated calls pick differently
        but every run of the same script picks the same items.
        """
        with self._lock:
            if not 0 <= count <= len(self._rows):
                raise ValueError(f"cannot update {count} of {len(self._rows)} items")
            seed = rng_seed if rng_seed is not None else self._seed * 7_919 + self._ticks
            picked = random.Random(seed).sample(range(len(self._rows)), count)
            return self._revise(picked)

    def update_ids(self, ids: Iterable[str]) -> list[str]:
        """Change the items with these ids, in the order given; returns the ids."""
        with self._lock:
            return self._revise(self._indexes_of(ids))

    def add(self, count: int) -> list[str]:
        """Append `count` new items (new sequence numbers) to the end of the order; returns their ids."""
        with self._lock:
            rows = self._create(count)
            self._rows.extend(rows)
            self._changed()
        return [row.item_id for row in rows]

    def insert_front(self, count: int) -> list[str]:
        """Place `count` new items at the start of the order, the case that makes offset paging drift."""
        with self._lock:
            rows = self._create(count)
            self._rows[0:0] = rows
            self._changed()
        return [row.item_id for row in rows]

    def delete_front(self, count: int) -> list[str]:
        """Remove the first `count` items of the order (fewer when the collection is smaller); returns their
        ids. The mirror of `insert_front`: offset paging then skips items instead of repeating them."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        with self._lock:
            removed, self._rows = self._rows[:count], self._rows[count:]
            self._changed()
        return [row.item_id for row in removed]

    def delete(self, ids: Iterable[str]) -> None:
        """Remove the items with these ids."""
        with self._lock:
            doomed = set(self._indexes_of(ids))
            self._rows = [row for i, row in enumerate(self._rows) if i not in doomed]
            self._changed()

    # --- internals (callers hold the lock) ---------------------------------------------------------------

    def _tick(self) -> datetime:
        self._ticks += 1
        return BASE_TIME + timedelta(seconds=self._ticks)

    def _create(self, count: int) -> list[StoredItem]:
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        rows = []
        for _ in range(count):
            rows.append(StoredItem.of(make_item(self._next_seq, self._seed, self._tick())))
            self._next_seq += 1
        return rows

    def _revise(self, indexes: list[int]) -> list[str]:
        rng = random.Random(self._seed * 104_729 + self._ticks)
        for index in indexes:
            self._rows[index] = StoredItem.of(revise_item(self._rows[index].record, rng, self._tick()))
        self._changed()
        return [self._rows[index].item_id for index in indexes]

    def _indexes_of(self, ids: Iterable[str]) -> list[int]:
        positions = {row.item_id: index for index, row in enumerate(self._rows)}
        return [positions[item_id] for item_id in ids]

    def _changed(self) -> None:
        self._snapshot = Snapshot(self._rows)


def _copy(row: StoredItem) -> Item:
    copied: Item = orjson.loads(row.json)
    return copied
