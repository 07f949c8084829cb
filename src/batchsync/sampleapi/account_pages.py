"""The accounts endpoints a fan-out sync uses, both paged by page number like Zoho (see `accounts.py`):

    GET /accounts?page=1&per_page=200
        {"code": 0, "message": "success", "accounts": [...], "page_context": {...}}
    GET /accounts/{account_id}/transactions?page=1&per_page=200      Authorization: Bearer <token>
        {"code": 0, "message": "success", "transactions": [...], "page_context": {"page": 1,
         "per_page": 200, "has_more_page": false, "total": 57, "total_pages": 1}}

Each account has its own credential: the transactions endpoint accepts only `Accounts.token_for(id)`, and not
even that for an account in `SampleApiSettings.revoked_accounts`; anything else is a 401. The directory is
guarded by `SampleApiSettings.auth`, like the inventory.
"""

from __future__ import annotations

import re
from collections.abc import Sequence, Set

import orjson

from batchsync.sampleapi.accounts import Accounts
from batchsync.sampleapi.auth import UNAUTHORIZED_BODY, has_bearer_token
from batchsync.sampleapi.collection import count_pages
from batchsync.sampleapi.messages import ApiRequest, BadRequestError, Response, json_response
from batchsync.sampleapi.query import read_int, read_page_size

ACCOUNTS_PATH = "/accounts"
_TRANSACTIONS_PATH = re.compile(r"/accounts/([A-Za-z0-9_-]+)/transactions")
_DEFAULT_PAGE_SIZE = 200


def transactions_account(path: str) -> str | None:
    """The account id in `/accounts/{account_id}/transactions`, or None when `path` is not such a path."""
    match = _TRANSACTIONS_PATH.fullmatch(path)
    return None if match is None else match.group(1)


def respond_directory(request: ApiRequest, accounts: Accounts, *, max_page_size: int) -> Response:
    """`GET /accounts`: one page of `Accounts.directory()`."""
    return _page(request, "accounts", accounts.directory_json(), max_page_size)


def respond_transactions(
    request: ApiRequest, account_id: str, accounts: Accounts, *, max_page_size: int, revoked: Set[str]
) -> Response:
    """`GET /accounts/{account_id}/transactions`: one page of the account's transactions, or a 401 with a
    Bearer challenge when the token is not the account's or the account is revoked."""
    if account_id in revoked or not has_bearer_token(request, accounts.token_for(account_id)):
        challenge = (("WWW-Authenticate", 'Bearer realm="sampleapi"'),)
        return json_response(401, UNAUTHORIZED_BODY, headers=challenge)
    return _page(request, "transactions", accounts.transaction_json(account_id), max_page_size)


def _page(request: ApiRequest, name: str, entries: Sequence[bytes], max_page_size: int) -> Response:
    try:
        per_page = read_page_size(
            request.query, "per_page", default=_DEFAULT_PAGE_SIZE, max_page_size=max_page_size
        )
        page = read_int(request.query, "page", default=1, minimum=1)
    except BadRequestError as error:
        return json_response(error.status, {"code": 2, "message": error.message})
    start = (page - 1) * per_page
    selected = entries[start : start + per_page]
    page_context = {
        "page": page,
        "per_page": per_page,
        "has_more_page": start + per_page < len(entries),
        "total": len(entries),
        "total_pages": count_pages(len(entries), per_page),
    }
    payload = {
        "code": 0,
        "message": "success",
        name: [orjson.Fragment(entry) for entry in selected],
        "page_context": page_context,
    }
    return json_response(200, payload, record_count=len(selected))
