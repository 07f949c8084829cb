"""Each account's transactions behind its own token, for the fan-out walk-through, paged like Zoho:

    GET /accounts/{account_id}/transactions?page=1&per_page=200      Authorization: Bearer <token>

Any account id matching `[A-Za-z0-9_-]+` exists, with 0 to 120 transactions (about one account in seven has
none) like `{"transaction_id": "acc-7-00003", "account_id": "acc-7", "amount": -42.5}`, and one bearer
token, `Accounts.token_for(id)`: an HMAC of the id under a fixed demo secret. Any other token is a 401.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import random
import re

import orjson

from batchsync.sampleapi import messages
from batchsync.sampleapi.messages import ApiRequest, Response, json_response

ACCOUNT_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
MAX_TRANSACTIONS_PER_ACCOUNT = 120
UNAUTHORIZED_BODY = {"code": 57, "message": "You are not authorized to perform this operation"}
CHALLENGE = 'Bearer realm="sampleapi"'
_TRANSACTIONS_PATH = re.compile(r"/accounts/([A-Za-z0-9_-]+)/transactions")
_DEMO_SECRET = b"batchsync sample API"  # public on purpose: the README's walk-through mints tokens with it


class Accounts:
    """Transactions and tokens for any account id, deterministic from `(seed, account_id)`; thread-safe.
    Both methods raise ValueError for an account id not matching `ACCOUNT_ID_PATTERN`."""

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed

    def token_for(self, account_id: str) -> str:
        """The one bearer token the account's transactions accept, e.g. "tok-acc-7-3f9a01bc"."""
        mac = hmac.new(_DEMO_SECRET, f"{self._seed}:{_checked(account_id)}".encode(), hashlib.sha256)
        return f"tok-{account_id}-{mac.hexdigest()[:8]}"

    def transaction_json(self, account_id: str) -> tuple[bytes, ...]:
        """The account's transactions in the order the API pages through them, serialised once."""
        return _ledger(_checked(account_id), self._seed)


def transactions_account(path: str) -> str | None:
    """The account id in `/accounts/{account_id}/transactions`, or None when `path` is not such a path."""
    match = _TRANSACTIONS_PATH.fullmatch(path)
    return None if match is None else match.group(1)


def respond_transactions(
    request: ApiRequest, account_id: str, accounts: Accounts, max_page_size: int = messages.MAX_PAGE_SIZE
) -> Response:
    """One page of the account's transactions, or a 401 when the token is not the account's."""
    scheme, _, sent = (request.header("authorization") or "").strip().partition(" ")
    token = accounts.token_for(account_id)
    if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), token.encode()):
        return json_response(401, UNAUTHORIZED_BODY, headers=(("WWW-Authenticate", CHALLENGE),))
    entries = accounts.transaction_json(account_id)
    return messages.respond_page(request, "transactions", entries, bytes, max_page_size)


def _checked(account_id: str) -> str:
    if ACCOUNT_ID_PATTERN.fullmatch(account_id) is None:
        raise ValueError(f"account id must match [A-Za-z0-9_-]+, got {account_id!r}")
    return account_id


@functools.lru_cache(maxsize=4096)  # generated on first request; a fan-out touches a few thousand at most
def _ledger(account_id: str, seed: int) -> tuple[bytes, ...]:
    # hashlib, not hash(): str hashes change with every interpreter run, and the data must not.
    digest = hashlib.blake2b(f"ledger:{seed}:{account_id}".encode(), digest_size=16).digest()
    rng = random.Random(int.from_bytes(digest))
    count = 0 if rng.random() < 0.15 else rng.randint(1, MAX_TRANSACTIONS_PER_ACCOUNT)
    rows = (
        {"transaction_id": f"{account_id}-{n:05d}", "account_id": account_id} for n in range(1, count + 1)
    )
    return tuple(orjson.dumps({**row, "amount": rng.randint(-150_000, 500_000) / 100}) for row in rows)
