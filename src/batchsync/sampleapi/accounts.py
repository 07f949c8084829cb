"""The accounts dataset a fan-out sync reads: every account's transactions and token, and a directory.

The API serves any account id matching `[A-Za-z0-9_-]+`: a fan-out test decides which accounts exist by
writing them into its own table, and each id deterministically has its transactions (0 to 120, about one
account in seven has none) and its one valid bearer token. `account_pages.py` serves them over HTTP. A
transaction looks like

    {"transaction_id": "acc-7-00003", "account_id": "acc-7", "amount": -42.5, "currency": "EUR",
     "booked_at": "2026-01-04T09:12:00+00:00", "description": "Card payment Contoso Coffee"}

The directory (`GET /accounts`) is a separate, settable list, for syncs whose entities come from an API.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TypeAlias

import orjson

from batchsync.sampleapi.catalog import JSONValue
from batchsync.sampleapi.dataset import BASE_TIME

Transaction: TypeAlias = "dict[str, JSONValue]"
Account: TypeAlias = "dict[str, JSONValue]"

ACCOUNT_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
MAX_TRANSACTIONS_PER_ACCOUNT = 120

# Transactions are generated per account on first request; a fan-out test touches a few thousand at most.
_MAX_CACHED_ACCOUNTS = 4096
_CURRENCIES = ("EUR", "EUR", "USD", "GBP", "SEK", "CHF")
_MERCHANTS = ("Contoso Coffee", "Fabrikam Fuel", "Northwind Market", "Tailspin Air", "Litware Books")
_DEBITS = ("Card payment {}", "Direct debit {}", "SEPA transfer to {}", "ATM withdrawal", "Account fee")
_CREDITS = ("Salary", "Refund {}", "SEPA transfer from {}", "Interest")
_NAMES = ("Operating", "Payroll", "Savings", "Travel", "Marketing", "Reserve", "Projects", "Petty Cash")


def is_valid_account_id(account_id: str) -> bool:
    """Whether the API serves `account_id`: one or more of letters, digits, `_` and `-`."""
    return ACCOUNT_ID_PATTERN.fullmatch(account_id) is not None


class Accounts:
    """Transactions and tokens for any account id, deterministic from `(seed, account_id)`, and a directory
    of `directory_size` generated accounts until `set_directory` replaces it; thread-safe.

    Methods taking an account id raise ValueError when it does not match `[A-Za-z0-9_-]+`.
    """

    def __init__(self, seed: int = 0, directory_size: int = 25) -> None:
        if directory_size < 0:
            raise ValueError(f"directory_size must be >= 0, got {directory_size}")
        self._seed = seed
        self._lock = threading.Lock()
        self._ledgers: dict[str, tuple[bytes, ...]] = {}
        self._directory: tuple[bytes, ...] = tuple(
            orjson.dumps(_make_account(number, seed)) for number in range(1, directory_size + 1)
        )

    # --- per-account data ---------------------------------------------------------------------------------

    def token_for(self, account_id: str) -> str:
        """The one bearer token `/accounts/{account_id}/transactions` accepts, e.g. "tok-acc-7-3f9a01bc"."""
        _check(account_id)
        return f"tok-{account_id}-{_digest(f'token:{self._seed}:{account_id}')[:8]}"

    def transactions(self, account_id: str) -> list[Transaction]:
        """Every transaction of the account, in the order the API pages through them (booked_at, then id)."""
        return [orjson.loads(entry) for entry in self.transaction_json(account_id)]

    def transaction_json(self, account_id: str) -> tuple[bytes, ...]:
        """The account's transactions, serialised once, as the endpoint sends them."""
        _check(account_id)
        with self._lock:
            ledger = self._ledgers.get(account_id)
        if ledger is None:
            ledger = tuple(orjson.dumps(row) for row in _make_transactions(account_id, self._seed))
            with self._lock:
                if len(self._ledgers) >= _MAX_CACHED_ACCOUNTS:
                    self._ledgers.clear()
                self._ledgers[account_id] = ledger
        return ledger

    # --- the directory ------------------------------------------------------------------------------------

    def directory(self) -> list[Account]:
        """Copies of the accounts `GET /accounts` lists, in order."""
        with self._lock:
            entries = self._directory
        return [orjson.loads(entry) for entry in entries]

    def directory_json(self) -> tuple[bytes, ...]:
        """The directory, serialised once, as the endpoint sends it."""
        with self._lock:
            return self._directory

    def set_directory(self, accounts: Sequence[Mapping[str, JSONValue]]) -> None:
        """Serve `accounts` (any JSON objects, e.g. `{"account_id": "acc-1", "name": "..."}`) from
        `GET /accounts` from the next request on. Raises TypeError when one is not JSON-serialisable."""
        entries = tuple(orjson.dumps(dict(account)) for account in accounts)
        with self._lock:
            self._directory = entries


def _check(account_id: str) -> None:
    if not is_valid_account_id(account_id):
        raise ValueError(f"account id must match [A-Za-z0-9_-]+, got {account_id!r}")


def _digest(text: str) -> str:
    # hashlib, not hash(): str hashes change with every interpreter run, and the data must not.
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _make_transactions(account_id: str, seed: int) -> list[Transaction]:
    rng = random.Random(int(_digest(f"ledger:{seed}:{account_id}"), 16))
    count = 0 if rng.random() < 0.15 else rng.randint(1, MAX_TRANSACTIONS_PER_ACCOUNT)
    currency = rng.choice(_CURRENCIES)
    booked = BASE_TIME + timedelta(minutes=rng.randint(0, 30 * 24 * 60))
    rows: list[Transaction] = []
    for n in range(1, count + 1):
        booked += timedelta(minutes=rng.randint(1, 3 * 24 * 60))
        is_credit = rng.random() < 0.3
        template = rng.choice(_CREDITS if is_credit else _DEBITS)
        cents = rng.randint(100, 500_000 if is_credit else 150_000)
        rows.append(
            {
                "transaction_id": f"{account_id}-{n:05d}",
                "account_id": account_id,
                "amount": (cents if is_credit else -cents) / 100,
                "currency": currency,
                "booked_at": booked.isoformat(),
                "description": template.format(rng.choice(_MERCHANTS)),
            }
        )
    return rows


def _make_account(number: int, seed: int) -> Account:
    rng = random.Random(seed * 1_000_037 + number)
    return {
        "account_id": f"acc-{number}",
        "name": f"{rng.choice(_NAMES)} {number}",
        "currency": rng.choice(_CURRENCIES),
        "status": "active" if rng.random() < 0.9 else "closed",
        "opened_at": (BASE_TIME - timedelta(days=rng.randint(30, 3000))).isoformat(),
    }
