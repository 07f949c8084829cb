"""The accounts dataset as tests use it: the product's `Accounts` (any account id's transactions and its one
token), each transaction with a currency, a booking time and a description as well, plus a settable
directory for syncs whose entities come from an API (`GET /accounts`)."""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TypeAlias

import orjson

from batchsync.sampleapi import accounts
from batchsync.sampleapi.accounts import ACCOUNT_ID_PATTERN, MAX_TRANSACTIONS_PER_ACCOUNT
from batchsync.sampleapi.inventory import BASE_TIME, JSONValue

__all__ = ["MAX_TRANSACTIONS_PER_ACCOUNT", "Accounts", "is_valid_account_id"]

Transaction: TypeAlias = "dict[str, JSONValue]"
Account: TypeAlias = "dict[str, JSONValue]"

_CURRENCIES = ("EUR", "EUR", "USD", "GBP", "SEK", "CHF")
_MERCHANTS = ("Contoso Coffee", "Fabrikam Fuel", "Northwind Market", "Tailspin Air", "Litware Books")
_DEBITS = ("Card payment {}", "Direct debit {}", "SEPA transfer to {}", "ATM withdrawal", "Account fee")
_CREDITS = ("Salary", "Refund {}", "SEPA transfer from {}", "Interest")
_NAMES = ("Operating", "Payroll", "Savings", "Travel", "Marketing", "Reserve", "Projects", "Petty Cash")


def is_valid_account_id(account_id: str) -> bool:
    """Whether the API serves `account_id`: one or more of letters, digits, `_` and `-`."""
    return ACCOUNT_ID_PATTERN.fullmatch(account_id) is not None


class Accounts(accounts.Accounts):
    """The product's accounts, and a directory of `directory_size` generated accounts until
    `set_directory` replaces it; thread-safe."""

    def __init__(self, seed: int = 0, directory_size: int = 25) -> None:
        if directory_size < 0:
            raise ValueError(f"directory_size must be >= 0, got {directory_size}")
        super().__init__(seed)
        self._lock = threading.Lock()
        self._directory: tuple[bytes, ...] = tuple(
            orjson.dumps(_make_account(number, seed)) for number in range(1, directory_size + 1)
        )

    def transaction_json(self, account_id: str) -> tuple[bytes, ...]:
        """The product's transactions of the account, with their details, in the order the API pages them
        (booked_at, then id), serialised once."""
        return _detailed_ledger(account_id, self._seed)

    def transactions(self, account_id: str) -> list[Transaction]:
        """Every transaction of the account, in the order the API pages through them (booked_at, then id)."""
        return [orjson.loads(entry) for entry in self.transaction_json(account_id)]

    def filling(self, count: int, pages: int, per_page: int) -> list[str]:
        """The first `count` account ids (acc-1, acc-2, …) whose transactions fill exactly `pages` pages
        of `per_page`: fan-outs whose request count a test or benchmark knows in advance."""
        chosen, number = [], 0
        while len(chosen) < count:
            number += 1
            transactions = len(self.transaction_json(f"acc-{number}"))
            if (pages - 1) * per_page < transactions <= pages * per_page:
                chosen.append(f"acc-{number}")
        return chosen

    def directory(self) -> list[Account]:
        """Copies of the accounts `GET /accounts` lists, in order."""
        return [orjson.loads(entry) for entry in self.directory_json()]

    def directory_json(self) -> tuple[bytes, ...]:
        """The directory, serialised once, as the endpoint sends it."""
        with self._lock:
            return self._directory

    def set_directory(self, entries: Sequence[Mapping[str, JSONValue]]) -> None:
        """Serve `entries` (any JSON objects, e.g. `{"account_id": "acc-1", "name": "..."}`) from
        `GET /accounts` from the next request on. Raises TypeError when one is not JSON-serialisable."""
        directory = tuple(orjson.dumps(dict(account)) for account in entries)
        with self._lock:
            self._directory = directory


@functools.lru_cache(maxsize=4096)
def _detailed_ledger(account_id: str, seed: int) -> tuple[bytes, ...]:
    rng = random.Random(f"details:{seed}:{account_id}")  # a str seed goes through SHA-512: stable across runs
    currency = rng.choice(_CURRENCIES)
    booked = BASE_TIME + timedelta(minutes=rng.randint(0, 30 * 24 * 60))
    rows: list[bytes] = []
    for entry in accounts.Accounts(seed).transaction_json(account_id):
        transaction = orjson.loads(entry)
        booked += timedelta(minutes=rng.randint(1, 3 * 24 * 60))
        template = rng.choice(_CREDITS if transaction["amount"] > 0 else _DEBITS)
        description = template.format(rng.choice(_MERCHANTS))
        details = {"currency": currency, "booked_at": booked.isoformat(), "description": description}
        rows.append(orjson.dumps({**transaction, **details}))
    return tuple(rows)


def _make_account(number: int, seed: int) -> Account:
    rng = random.Random(seed * 1_000_037 + number)
    return {
        "account_id": f"acc-{number}",
        "name": f"{rng.choice(_NAMES)} {number}",
        "currency": rng.choice(_CURRENCIES),
        "status": "active" if rng.random() < 0.9 else "closed",
        "opened_at": (BASE_TIME - timedelta(days=rng.randint(30, 3000))).isoformat(),
    }
