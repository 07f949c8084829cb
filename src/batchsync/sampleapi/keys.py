"""`/api/keycheck`, the key-check service a lookup sync asks about batches of keys from its own table:

    GET  /api/keycheck?keys=K1,K2,...       or POST /api/keycheck {"keys": ["K1", "K2", ...]}
    200  [{"keyname_with_dash": "K1", "prd": "Office 2021 Pro", "remaining": 17, "blocked": 0,
           "errorcode": ""}, ...]

One answer per distinct known key, in the order asked; unknown keys are absent. The batch as a whole is
refused, so a client must split it to isolate a bad key: more than `max_keys` keys is a 400 `{"error":
"too many keys: 51 > 50"}`, a key not shaped like `BCDFG-HJKMP-QRTVW-XY234-6789B` a 400 `{"error":
"invalid key: <key>"}`. About half the products contain "Office".
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterable
from typing import TypeAlias

import orjson

from batchsync.sampleapi.messages import ApiRequest, Response, json_response

KeyAnswer: TypeAlias = "dict[str, str | int]"

KEYCHECK_PATH = "/api/keycheck"
KEY_PATTERN = re.compile(r"[A-Z0-9]{5}(?:-[A-Z0-9]{5}){4}")
BLOCKED_ERROR_CODE = "0xC004C060"  # what activation says for a key that has been blocked
_ALPHABET = "BCDFGHJKMPQRTVWXY2346789"  # no vowels or look-alikes, as in real product keys
_OFFICE = ("Office 2021 Pro", "Office 2019 Home", "Office 2016 Pro Plus")
_PRODUCTS = (*_OFFICE, "Windows 11 Pro", "Windows 10 Home", "Visio 2021", "Project 2021")
_PRODUCT_WEIGHTS = (3, 3, 2, 3, 2, 1, 1)  # 8 of 15 are Office


class KeyService:
    """`size` keys and their answers, deterministic from `(size, seed)` and generated on first use;
    thread-safe, and every method hands out copies."""

    def __init__(self, size: int = 1000, seed: int = 0) -> None:
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        self._size, self._seed = size, seed
        self._lock = threading.Lock()
        self._answers: dict[str, KeyAnswer] | None = None

    def all(self) -> list[KeyAnswer]:
        """Every key's current answer, in a fixed order (the order the keys were generated)."""
        with self._lock:
            return [dict(answer) for answer in self._loaded().values()]

    def lookup(self, keys: Iterable[str]) -> list[KeyAnswer]:
        """Answers for the known keys among `keys`, in the order asked and each once."""
        with self._lock:
            answers = self._loaded()
            return [dict(answers[key]) for key in dict.fromkeys(keys) if key in answers]

    def _loaded(self) -> dict[str, KeyAnswer]:
        # Callers hold the lock; the fake API in tests replaces answers in this dict to simulate changes.
        if self._answers is None:
            self._answers = _generate(self._size, self._seed)
        return self._answers


def unblocked_error_code(rng: random.Random) -> str:
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
        error = BLOCKED_ERROR_CODE if blocked else unblocked_error_code(rng)
        answers[key] = {"keyname_with_dash": key, "prd": product, "remaining": remaining, "blocked": blocked}
        answers[key]["errorcode"] = error
    return answers


def requested_keys(request: ApiRequest) -> list[str] | None:
    """The keys a request names, duplicates kept, or None when it names none readably; a POSTed entry that
    is not a string is kept as its JSON text, so it fails the key check rather than the parse."""
    if request.method == "GET":
        raw = request.query.get("keys")
        return None if raw is None else [key.strip() for key in raw.split(",") if key.strip()]
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
        return None
    return [key if isinstance(key, str) else orjson.dumps(key).decode() for key in body["keys"]]


def respond_keycheck(request: ApiRequest, keys: KeyService, *, max_keys: int = 50) -> Response:
    """`GET` or `POST /api/keycheck`: the answers for the known keys asked, or a 400 for the whole batch."""
    asked = requested_keys(request)
    if asked is None:
        if request.method == "GET":
            return _error("missing keys parameter: ?keys=K1,K2,...")
        return _error('body must be a JSON object like {"keys": ["K1", "K2"]}')
    if len(asked) > max_keys:
        return _error(f"too many keys: {len(asked)} > {max_keys}")
    malformed = next((key for key in asked if KEY_PATTERN.fullmatch(key) is None), None)
    if malformed is not None:
        return _error(f"invalid key: {malformed}")
    answers = keys.lookup(asked)
    return json_response(200, answers, record_count=len(answers))


def _error(message: str) -> Response:
    return json_response(400, {"error": message})
