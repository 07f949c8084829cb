"""The key-check service's dataset: product keys and what the service answers about each, deterministically.

A lookup sync reads keys from a local table and asks `/api/keycheck` about them in batches (see
`keycheck.py`); this module holds the answers. Keys look like `BCDFG-HJKMP-QRTVW-XY234-6789B`, five groups
of five characters from the alphabet Microsoft uses for product keys, and every answer has the same five
fields:

    {"keyname_with_dash": "BCDFG-...", "prd": "Office 2021 Pro", "remaining": 17, "blocked": 0,
     "errorcode": ""}

About half the products contain "Office", so a filter such as `prd ILIKE '%Office%'` selects a real subset.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterable
from typing import TypeAlias

KeyAnswer: TypeAlias = "dict[str, str | int]"
"""One answer: keyname_with_dash (str), prd (str), remaining (int), blocked (0 or 1), errorcode (str)."""

KEY_PATTERN = re.compile(r"[A-Z0-9]{5}(?:-[A-Z0-9]{5}){4}")
"""What a well-formed key looks like; anything else in a request makes the service refuse the whole batch."""

BLOCKED_ERROR_CODE = "0xC004C060"  # what activation says for a key that has been blocked

_ALPHABET = "BCDFGHJKMPQRTVWXY2346789"  # no vowels or look-alikes, as in real product keys
_PRODUCTS = (
    "Office 2021 Pro",
    "Office 2019 Home",
    "Office 2016 Pro Plus",
    "Windows 11 Pro",
    "Windows 10 Home",
    "Visio 2021",
    "Project 2021",
)
_PRODUCT_WEIGHTS = (3, 3, 2, 3, 2, 1, 1)  # 8 of 15 are Office
_OTHER_ERROR_CODES = ("0xC004C003", "0xC004F074", "0xC004C008")


def is_well_formed(key: str) -> bool:
    """Whether `key` has the 5×5 shape the service accepts (uppercase letters and digits, dashes between)."""
    return KEY_PATTERN.fullmatch(key) is not None


class KeyService:
    """`size` keys and their answers, deterministic from `(size, seed)`; thread-safe.

    The keys are generated on first use, so an API that never serves a key check pays nothing for them.
    Answers are replaced, never changed in place, and every method hands out copies.
    """

    def __init__(self, size: int = 1000, seed: int = 0) -> None:
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        self._size = size
        self._seed = seed
        self._lock = threading.Lock()
        self._answers: dict[str, KeyAnswer] | None = None
        self._updates = 0

    def __len__(self) -> int:
        return self._size

    def all(self) -> list[KeyAnswer]:
        """Every key's current answer, in a fixed order (the order the keys were generated)."""
        with self._lock:
            return [dict(answer) for answer in self._loaded().values()]

    def get(self, key: str) -> KeyAnswer | None:
        """The current answer for `key`, or None when the service does not know it."""
        with self._lock:
            answer = self._loaded().get(key)
        return None if answer is None else dict(answer)

    def lookup(self, keys: Iterable[str]) -> list[KeyAnswer]:
        """Answers for the known keys among `keys`, in the order asked and each once; unknown keys are
        absent, as they are from the service's answer."""
        with self._lock:
            answers = self._loaded()
            known = [answers[key] for key in dict.fromkeys(keys) if key in answers]
        return [dict(answer) for answer in known]

    def update(self, count: int, seed: int | None = None) -> list[str]:
        """Change the answers of `count` distinct keys picked reproducibly from `seed`; returns those keys.

        Every changed answer has a different `remaining`, and some also become (un)blocked or get another
        `errorcode`. Without `seed`, successive calls pick differently, but every run picks the same.
        Raises ValueError when `count` is negative or larger than the service.
        """
        with self._lock:
            answers = self._loaded()
            if not 0 <= count <= len(answers):
                raise ValueError(f"cannot update {count} of {len(answers)} keys")
            self._updates += 1
            rng = random.Random(seed if seed is not None else self._seed * 6_151 + self._updates)
            picked = rng.sample(list(answers), count)
            for key in picked:
                answers[key] = _revise(answers[key], rng)
            return picked

    def _loaded(self) -> dict[str, KeyAnswer]:
        # Callers hold the lock.
        if self._answers is None:
            self._answers = _generate(self._size, self._seed)
        return self._answers


def _generate(size: int, seed: int) -> dict[str, KeyAnswer]:
    rng = random.Random(seed * 1_000_033 + 17)
    answers: dict[str, KeyAnswer] = {}
    while len(answers) < size:
        key = "-".join("".join(rng.choices(_ALPHABET, k=5)) for _ in range(5))
        if key in answers:  # 24^25 keys: never in practice, but the dataset must not shrink if it happens
            continue
        blocked = 1 if rng.random() < 0.1 else 0
        answers[key] = {
            "keyname_with_dash": key,
            "prd": rng.choices(_PRODUCTS, weights=_PRODUCT_WEIGHTS)[0],
            "remaining": rng.randint(0, 50),
            "blocked": blocked,
            "errorcode": BLOCKED_ERROR_CODE if blocked else _unblocked_error_code(rng),
        }
    return answers


def _revise(answer: KeyAnswer, rng: random.Random) -> KeyAnswer:
    remaining = answer["remaining"]
    assert isinstance(remaining, int)
    used = rng.randint(1, 5)
    revised: KeyAnswer = {**answer, "remaining": remaining - used if remaining >= used else remaining + used}
    if rng.random() < 0.25:
        blocked = 1 - int(answer["blocked"])
        revised["blocked"] = blocked
        revised["errorcode"] = BLOCKED_ERROR_CODE if blocked else ""
    elif not answer["blocked"] and rng.random() < 0.25:
        revised["errorcode"] = _unblocked_error_code(rng)
    return revised


def _unblocked_error_code(rng: random.Random) -> str:
    return rng.choice(_OTHER_ERROR_CODES) if rng.random() < 0.15 else ""
