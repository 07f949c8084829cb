"""Poison records: items the fake API serves with a broken field, so a sync must dead-letter or stop.

`SampleApiSettings.poison` maps item ids to a kind; every pagination shape applies it when it serialises a
page, and the inventory itself stays clean, so `settings.poison = {}` fixes the source at once. Each kind is
valid JSON that a typed mapping of the item rejects, except `negative_price`, which only a database rule
(a CHECK constraint or trigger) refuses:

    missing_key      "item_id" is absent
    bad_integer      "stock_on_hand": "lots"
    bad_decimal      "rate": "12,5€"
    bad_datetime     "last_modified_time": "yesterday"
    negative_price   "rate": -1
"""

from __future__ import annotations

import random
from typing import Literal, TypeAlias, get_args

import orjson

from fakeapi.catalog import Item, JSONValue
from fakeapi.dataset import Inventory

PoisonKind: TypeAlias = Literal["missing_key", "bad_integer", "bad_decimal", "bad_datetime", "negative_price"]
POISON_KINDS: tuple[PoisonKind, ...] = get_args(PoisonKind)
TYPE_POISON_KINDS: tuple[PoisonKind, ...] = ("missing_key", "bad_integer", "bad_decimal", "bad_datetime")
"""The kinds a typed column mapping rejects by itself; `choose_poison` spreads these unless told otherwise."""

_BAD_VALUES: dict[str, tuple[str, JSONValue]] = {
    "bad_integer": ("stock_on_hand", "lots"),
    "bad_decimal": ("rate", "12,5€"),
    "bad_datetime": ("last_modified_time", "yesterday"),
    "negative_price": ("rate", -1),
}


def poison_item(record: Item, kind: str) -> Item:
    """A copy of `record` broken as `kind`; raises ValueError for an unknown kind."""
    if kind == "missing_key":
        return {name: value for name, value in record.items() if name != "item_id"}
    bad = _BAD_VALUES.get(kind)
    if bad is None:
        raise ValueError(f"unknown poison kind {kind!r}; expected one of {POISON_KINDS}")
    name, value = bad
    return {**record, name: value}


def poisoned_json(record: Item, kind: str) -> bytes:
    """`record` broken as `kind`, serialised as the endpoints send it."""
    return orjson.dumps(poison_item(record, kind))


def choose_poison(
    inventory: Inventory, fraction: float, seed: int, kinds: tuple[PoisonKind, ...] = TYPE_POISON_KINDS
) -> dict[str, str]:
    """Pick round(fraction × size) items (at least one when fraction > 0) reproducibly from `seed`, and give
    them `kinds` in turn, so each kind covers an equal share give or take one.

    The result, in collection order, is ready for `settings.poison`. Raises ValueError for a fraction
    outside 0..1, no kinds, or an unknown kind.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in 0..1, got {fraction}")
    if not kinds or any(kind not in POISON_KINDS for kind in kinds):
        raise ValueError(f"kinds must be a non-empty selection of {POISON_KINDS}, got {kinds}")
    ids = [row.item_id for row in inventory.view(None, sort_by_modified=False).rows]
    count = min(len(ids), max(1, round(len(ids) * fraction))) if fraction > 0 else 0
    picked = random.Random(seed).sample(range(len(ids)), count)
    kind_at = {position: kinds[turn % len(kinds)] for turn, position in enumerate(picked)}
    return {ids[position]: str(kind_at[position]) for position in sorted(kind_at)}
