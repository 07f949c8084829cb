"""The key-check service's dataset as tests use it: the product's `KeyService` (the keys and answers
`batchsync sample-api` serves), whose answers a test can also change between runs with `update`."""

from __future__ import annotations

import random

from batchsync.sampleapi import keys
from batchsync.sampleapi.keys import BLOCKED_ERROR_CODE, KEY_PATTERN, KeyAnswer, unblocked_error_code

__all__ = ["KEY_PATTERN", "KeyAnswer", "KeyService", "is_well_formed"]


def is_well_formed(key: str) -> bool:
    """Whether `key` has the 5×5 shape the service accepts (uppercase letters and digits, dashes between)."""
    return KEY_PATTERN.fullmatch(key) is not None


class KeyService(keys.KeyService):
    """The product's keys and answers; answers are replaced, never changed in place."""

    def __init__(self, size: int = 1000, seed: int = 0) -> None:
        super().__init__(size, seed)
        self._updates = 0

    def __len__(self) -> int:
        return self._size

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
        revised["errorcode"] = unblocked_error_code(rng)
    return revised
