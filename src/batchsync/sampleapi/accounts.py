"""The accounts a fan-out sync reads, each account's transactions behind its own token, paged like Zoho:

    GET /accounts/{account_id}/transactions?page=1&per_page=200      Authorization: Bearer <token>

Any account id matching `[A-Za-z0-9_-]+` exists, with 0 to 120 transactions (about one account in seven has
none) like `{"transaction_id": "acc-7-00003", "account_id": "acc-7", "amount": -42.5, "currency": "EUR",
"booked_at": "2026-01-04T09:12:00+00:00", "description": "Card payment Contoso Coffee"}`, and one bearer
token, `Accounts.token_for(id)`; any other token is a 401.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import random
import re
from collections.abc import Sequence
from datetime import timedelta

import orjson

from batchsync.sampleapi import messages
from batchsync.sampleapi.inventory import BASE_TIME
from batchsync.sampleapi.messages import ApiRequest, BadRequestError, Response, json_response

ACCOUNT_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
MAX_TRANSACTIONS_PER_ACCOUNT = 120
UNAUTHORIZED_BODY = {"code": 57, "message": "You are not authorized to perform this operation"}

_TRANSACTIONS_PATH = re.compile(r"/accounts/([A-Za-z0-9_-]+)/transactions")
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

    def token_for(self, account_id: str) -> str:
        """The one bearer token `/accounts/{account_id}/transactions` accepts, e.g. "tok-acc-7-3f9a01bc"."""
        _check(account_id)
        return f"tok-{account_id}-{digest(f'token:{self._seed}:{account_id}')[:8]}"

    def transaction_json(self, account_id: str) -> tuple[bytes, ...]:
        """The account's transactions in the order the API pages through them, serialised once."""
        _check(account_id)
        return _ledger(account_id, self._seed)


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
    request: ApiRequest, account_id: str, accounts: Accounts, max_page_size: int = messages.MAX_PAGE_SIZE
) -> Response:
    """One page of the account's transactions, or a 401 when the token is not the account's."""
    if not has_bearer_token(request, accounts.token_for(account_id)):
        return unauthorized('Bearer realm="sampleapi"')
    return respond_entries(request, "transactions", accounts.transaction_json(account_id), max_page_size)


def respond_entries(request: ApiRequest, name: str, entries: Sequence[bytes], max_page_size: int) -> Response:
    """One page of `entries` (pre-serialised JSON objects) under `name`, or a 400."""
    try:
        page, per_page = messages.read_page(request.query, max_page_size)
    except BadRequestError as error:
        return messages.bad_request(error)
    selected = [orjson.Fragment(entry) for entry in entries[(page - 1) * per_page : page * per_page]]
    return messages.zoho_page(name, selected, page, per_page, len(entries))


def digest(text: str) -> str:
    # hashlib, not hash(): str hashes change with every interpreter run, and the data must not.
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _check(account_id: str) -> None:
    if ACCOUNT_ID_PATTERN.fullmatch(account_id) is None:
        raise ValueError(f"account id must match [A-Za-z0-9_-]+, got {account_id!r}")


@functools.lru_cache(maxsize=4096)  # generated on first request; a fan-out touches a few thousand at most
def _ledger(account_id: str, seed: int) -> tuple[bytes, ...]:
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
    return tuple(orjson.dumps(row) for row in rows)
