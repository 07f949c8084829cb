"""The accounts a fan-out sync reads: every account's transactions behind its own token, paged like Zoho.

    GET /accounts/{account_id}/transactions?page=1&per_page=200      Authorization: Bearer <token>
        {"code": 0, "message": "success", "transactions": [...], "page_context": {"page": 1,
         "per_page": 200, "has_more_page": false, "total": 57, "total_pages": 1}}

Any account id matching `[A-Za-z0-9_-]+` exists: it deterministically has its transactions (0 to 120, about
one account in seven has none) and its one valid bearer token, `Accounts.token_for(id)`; any other token is
a 401. A transaction looks like

    {"transaction_id": "acc-7-00003", "account_id": "acc-7", "amount": -42.5, "currency": "EUR",
     "booked_at": "2026-01-04T09:12:00+00:00", "description": "Card payment Contoso Coffee"}
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
import threading
from datetime import timedelta

import orjson

from batchsync.sampleapi.inventory import BASE_TIME
from batchsync.sampleapi.messages import ApiRequest, BadRequestError, Response, json_response
from batchsync.sampleapi.pages import read_int, read_page_size, zoho_error, zoho_page

ACCOUNT_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
MAX_TRANSACTIONS_PER_ACCOUNT = 120
UNAUTHORIZED_BODY = {"code": 57, "message": "You are not authorized to perform this operation"}

_TRANSACTIONS_PATH = re.compile(r"/accounts/([A-Za-z0-9_-]+)/transactions")
# Transactions are generated per account on first request; a fan-out touches a few thousand at most.
_MAX_CACHED_ACCOUNTS = 4096
_CURRENCIES = ("EUR", "EUR", "USD", "GBP", "SEK", "CHF")
_MERCHANTS = ("Contoso Coffee", "Fabrikam Fuel", "Northwind Market", "Tailspin Air", "Litware Books")
_DEBITS = ("Card payment {}", "Direct debit {}", "SEPA transfer to {}", "ATM withdrawal", "Account fee")
_CREDITS = ("Salary", "Refund {}", "SEPA transfer from {}", "Interest")


class Accounts:
    """Transactions and tokens for any account id, deterministic from `(seed, account_id)`; thread-safe.

    Methods taking an account id raise ValueError when it does not match `[A-Za-z0-9_-]+`.
    """

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self._ledgers: dict[str, tuple[bytes, ...]] = {}

    def token_for(self, account_id: str) -> str:
        """The one bearer token `/accounts/{account_id}/transactions` accepts, e.g. "tok-acc-7-3f9a01bc"."""
        _check(account_id)
        return f"tok-{account_id}-{digest(f'token:{self._seed}:{account_id}')[:8]}"

    def transaction_json(self, account_id: str) -> tuple[bytes, ...]:
        """The account's transactions in the order the API pages through them, serialised once."""
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


def transactions_account(path: str) -> str | None:
    """The account id in `/accounts/{account_id}/transactions`, or None when `path` is not such a path."""
    match = _TRANSACTIONS_PATH.fullmatch(path)
    return None if match is None else match.group(1)


def has_bearer_token(request: ApiRequest, token: str) -> bool:
    """Whether `request` carries `Authorization: Bearer <token>` (compared in constant time)."""
    sent = request.credentials("Bearer")
    return sent is not None and hmac.compare_digest(sent.encode(), token.encode())


def unauthorized(challenge: str | None) -> Response:
    """A 401 with `WWW-Authenticate: <challenge>` when the scheme has one."""
    headers = (("WWW-Authenticate", challenge),) if challenge is not None else ()
    return json_response(401, UNAUTHORIZED_BODY, headers=headers)


def respond_transactions(
    request: ApiRequest, account_id: str, accounts: Accounts, max_page_size: int
) -> Response:
    """One page of the account's transactions, or a 401 when the token is not the account's."""
    if not has_bearer_token(request, accounts.token_for(account_id)):
        return unauthorized('Bearer realm="sampleapi"')
    return respond_entries(request, "transactions", accounts.transaction_json(account_id), max_page_size)


def respond_entries(
    request: ApiRequest, name: str, entries: tuple[bytes, ...], max_page_size: int
) -> Response:
    """One page of `entries` (pre-serialised JSON objects) under `name`, paged by page number."""
    try:
        per_page = read_page_size(request.query, "per_page", default=200, max_page_size=max_page_size)
        page = read_int(request.query, "page", default=1, minimum=1)
    except BadRequestError as error:
        return json_response(error.status, zoho_error(error))
    selected = [orjson.Fragment(entry) for entry in entries[(page - 1) * per_page : page * per_page]]
    return zoho_page(name, selected, page, per_page, len(entries))


def digest(text: str) -> str:
    # hashlib, not hash(): str hashes change with every interpreter run, and the data must not.
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _check(account_id: str) -> None:
    if ACCOUNT_ID_PATTERN.fullmatch(account_id) is None:
        raise ValueError(f"account id must match [A-Za-z0-9_-]+, got {account_id!r}")


def _make_transactions(account_id: str, seed: int) -> list[dict[str, object]]:
    rng = random.Random(int(digest(f"ledger:{seed}:{account_id}"), 16))
    count = 0 if rng.random() < 0.15 else rng.randint(1, MAX_TRANSACTIONS_PER_ACCOUNT)
    currency = rng.choice(_CURRENCIES)
    booked = BASE_TIME + timedelta(minutes=rng.randint(0, 30 * 24 * 60))
    rows: list[dict[str, object]] = []
    for n in range(1, count + 1):
        booked += timedelta(minutes=rng.randint(1, 3 * 24 * 60))
        is_credit = rng.random() < 0.3
        template = rng.choice(_CREDITS if is_credit else _DEBITS)
        cents = rng.randint(100, 500_000 if is_credit else 150_000)
        amount = (cents if is_credit else -cents) / 100
        row = {"transaction_id": f"{account_id}-{n:05d}", "account_id": account_id, "amount": amount}
        rows.append({**row, "currency": currency, "booked_at": booked.isoformat()})
        rows[-1]["description"] = template.format(rng.choice(_MERCHANTS))
    return rows
