"""The accounts endpoints a fan-out sync uses, both paged by page number like Zoho:

    GET /accounts?page=1&per_page=200
        {"code": 0, "message": "success", "accounts": [...], "page_context": {...}}
    GET /accounts/{account_id}/transactions?page=1&per_page=200      Authorization: Bearer <token>

The transactions are the product's (`batchsync.sampleapi.accounts`), refused with a 401 even with the
account's own token for an account in `SampleApiSettings.revoked_accounts`. The directory is guarded by
`SampleApiSettings.auth`, like the inventory.
"""

from __future__ import annotations

from collections.abc import Set

from batchsync.sampleapi import accounts
from batchsync.sampleapi.accounts import transactions_account
from batchsync.sampleapi.messages import respond_page
from fakeapi.accounts import Accounts
from fakeapi.auth import unauthorized
from fakeapi.messages import ApiRequest, Response

__all__ = ["ACCOUNTS_PATH", "respond_directory", "respond_transactions", "transactions_account"]

ACCOUNTS_PATH = "/accounts"


def respond_directory(request: ApiRequest, directory: Accounts, *, max_page_size: int) -> Response:
    """`GET /accounts`: one page of `Accounts.directory()`."""
    return Response.of(respond_page(request, "accounts", directory.directory_json(), bytes, max_page_size))


def respond_transactions(
    request: ApiRequest, account_id: str, ledgers: Accounts, *, max_page_size: int, revoked: Set[str]
) -> Response:
    """`GET /accounts/{account_id}/transactions`: the product's answer, or a 401 for a revoked account."""
    if account_id in revoked:
        return unauthorized(accounts.CHALLENGE)
    return Response.of(accounts.respond_transactions(request, account_id, ledgers, max_page_size))
