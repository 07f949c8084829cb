"""The key-check service's dataset: `size` product keys and their answers, deterministic from
`(size, seed)`, whose answers a test can change between runs with `update`. About half the products
contain "Office"; `/api/keycheck` (`keycheck.py`) serves them."""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterable
from typing import TypeAlias

__all__ = ["KEY_PATTERN", "KeyAnswer", "KeyService", "is_well_formed"]

KeyAnswer: TypeAlias = "dict[str, str | int]"

KEY_PATTERN = re.compile(r"[A-Z0-9]{5}(?:-[A-Z0-9]{5}){4}")
BLOCKED_ERROR_CODE = "0xC004C060"  # what activation says for a key that has been blocked
_ALPHABET = "BCDFGHJKMPQRTVWXY2346789"  # no vowels or look-alikes, as in real product keys
_OFFICE = ("Office 2021 Pro", "Office 2019 Home", "Office 2016 Pro Plus")
_PRODUCTS = (*_OFFICE, "Windows 11 Pro", "Windows 10 Home", "Visio 2021", "Project 2021")
_PRODUCT_WEIGHTS = (3, 3, 2, 3, 2, 1, 1)  # 8 of 15 are Office


def is_well_formed(key: str) -> bool:
    """Whether `key` has the 5×5 shape the service accepts (uppercase letters and digits, dashes between)."""
    return KEY_PATTERN.fullmatch(key) is not None


class KeyService:
    """`size` keys and their answers, generated on first use; thread-safe, and every method hands out
    copies. Answers are replaced, never changed in place."""

    def __init__(self, size: int = 1000, seed: int = 0) -> None:
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        self._size, self._seed = size, seed
        self._lock = threading.Lock()
        self._answers: dict[str, KeyAnswer] | None = None
        self._updates = 0

    def __len__(self) -> int:
        return self._size

    def all(self) -> list[KeyAnswer]:
        """Every key's current answer, in a fixed order (the order the keys were generated)."""
        with self._lock:
            return [dict(answer) for answer in self._loaded().values()]

    def lookup(self, keys: Iterable[str]) -> list[KeyAnswer]:
        """Answers for the known keys among `keys`, in the order asked and each once."""
        with self._lock:
            answers = self._loaded()
            return [dict(answers[key]) for key in dict.fromkeys(keys) if key in answers]

    def get(self, key: str) -> KeyAnswer | None:
        """The current answer for `key`, or None when the service does not know it."""
        answers = self.lookup([key])
        return answers[0] if answers else None

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


def _unblocked_error_code(rng: random.Random) -> str:
    return rng.choice(("0xC004C003", "0xC004F074", "0xC004C008")) if rng.random() < 0.15 else ""


def _generate(size: int, seed: int) -> dict[str, KeyAnswer]:
    rng = random.Random(seed * 1_000_033 + 17)
    answers: dict[str, KeyAnswer] = {}
    while len(answers) < size:
        key = "-".join("".join(rng.choices(_ALPHABET, k=5)) for _ in range(5))
        if key in answers:  # 24^25 keys: never in practice, but the dataset must not shrink if it happens
            continue
        blocked = 1 if rng.random() < 0.1 else 0
        product = rng.choices(_PRODUCTS, weights=_PRODUCT_WEIGHTS)[0]
        remaining = rng.randint(0, 50)
        error = BLOCKED_ERROR_CODE if blocked else _unblocked_error_code(rng)
        answers[key] = {"keyname_with_dash": key, "prd": product, "remaining": remaining, "blocked": blocked}
        answers[key]["errorcode"] = error
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
