"""Accounts for fan-out syncs: stable per-account transactions, a token per account, and the directory."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from fakeapi import Accounts, BearerAuth, FailWhere, SampleApi

Row = dict[str, object]
IDS = [f"acct_{n}" for n in range(60)] + ["A-b_9", "x"]


def transactions_path(account_id: str) -> str:
    return f"/accounts/{account_id}/transactions"


def walk(client: httpx.Client, path: str, key: str, per_page: int, **headers: str) -> list[Row]:
    """Every row of a page-number collection, checking page_context on the way."""
    rows: list[Row] = []
    page = 1
    while True:
        response = client.get(path, params={"page": page, "per_page": per_page}, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        rows += body[key]
        assert body["page_context"]["page"] == page and body["page_context"]["per_page"] == per_page
        if not body["page_context"]["has_more_page"]:
            return rows
        page += 1


def bearer(api: SampleApi, account_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.accounts.token_for(account_id)}"}


# --- the dataset ----------------------------------------------------------------------------------------


def test_transactions_are_stable_per_account_and_vary_between_accounts() -> None:
    first, again = Accounts(seed=0), Accounts(seed=0)
    counts = []
    for account_id in IDS:
        rows = first.transactions(account_id)
        assert rows == again.transactions(account_id) == first.transactions(account_id)
        assert 0 <= len(rows) <= 120
        counts.append(len(rows))
    assert 0 in counts and len(set(counts)) > 20  # some empty accounts, otherwise varied
    assert Accounts(seed=1).transactions("acct_1") != first.transactions("acct_1")


def test_transaction_fields_and_global_ids() -> None:
    accounts = Accounts()
    seen: set[object] = set()
    for account_id in IDS[:20]:
        rows = accounts.transactions(account_id)
        for n, row in enumerate(rows, start=1):
            assert row["transaction_id"] == f"{account_id}-{n:05d}" and row["account_id"] == account_id
            assert isinstance(row["amount"], float) and round(row["amount"], 2) == row["amount"]
            assert row["currency"] in ("EUR", "USD", "GBP", "SEK", "CHF")
            assert datetime.fromisoformat(str(row["booked_at"])).tzinfo is not None
            assert isinstance(row["description"], str) and row["description"]
            seen.add(row["transaction_id"])
        assert [row["booked_at"] for row in rows] == sorted(str(row["booked_at"]) for row in rows)
    assert len(seen) == sum(len(accounts.transactions(account_id)) for account_id in IDS[:20])


def test_tokens_are_deterministic_and_per_account() -> None:
    token = Accounts().token_for("acct_1")
    assert token.startswith("tok-acct_1-") and token == Accounts().token_for("acct_1")
    assert token != Accounts().token_for("acct_2") and token != Accounts(seed=5).token_for("acct_1")


@pytest.mark.parametrize("account_id", ["", "a b", "a/b", "é"])
def test_invalid_account_ids_raise(account_id: str) -> None:
    with pytest.raises(ValueError):
        Accounts().token_for(account_id)
    with pytest.raises(ValueError):
        Accounts().transactions(account_id)


# --- the transactions endpoint ---------------------------------------------------------------------------


def test_paging_an_account_gives_its_full_transaction_list(client: httpx.Client, api: SampleApi) -> None:
    busy = next(account for account in IDS if len(api.accounts.transactions(account)) > 50)
    served = walk(client, transactions_path(busy), "transactions", 20, **bearer(api, busy))
    assert served == api.accounts.transactions(busy)
    assert sum(entry.record_count for entry in api.requests) == len(served)


def test_an_empty_account_has_one_empty_page(client: httpx.Client, api: SampleApi) -> None:
    empty = next(account for account in IDS if not api.accounts.transactions(account))
    body = client.get(transactions_path(empty), headers=bearer(api, empty)).json()
    assert body["transactions"] == [] and body["page_context"]["has_more_page"] is False


def test_only_the_accounts_own_token_is_accepted(client: httpx.Client, api: SampleApi) -> None:
    path = transactions_path("acct_1")
    for headers in ({}, {"Authorization": "Bearer nope"}, bearer(api, "acct_2")):
        refused = client.get(path, headers=headers)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
    assert client.get(path, headers=bearer(api, "acct_1")).status_code == 200


def test_a_revoked_account_refuses_its_valid_token(client: httpx.Client, api: SampleApi) -> None:
    api.settings.revoked_accounts = {"acct_1"}
    assert client.get(transactions_path("acct_1"), headers=bearer(api, "acct_1")).status_code == 401
    assert client.get(transactions_path("acct_2"), headers=bearer(api, "acct_2")).status_code == 200
    api.settings.revoked_accounts = set()
    assert client.get(transactions_path("acct_1"), headers=bearer(api, "acct_1")).status_code == 200


def test_the_api_wide_auth_does_not_apply_to_transactions(client: httpx.Client, api: SampleApi) -> None:
    api.settings.auth = BearerAuth("api-wide")
    assert client.get(transactions_path("x"), headers=bearer(api, "x")).status_code == 200
    assert client.get("/accounts").status_code == 401
    assert client.get("/accounts", headers={"Authorization": "Bearer api-wide"}).status_code == 200


def test_a_fault_plan_can_fail_one_account(client: httpx.Client, api: SampleApi) -> None:
    failing = transactions_path("acct_3")
    api.settings.faults = FailWhere(lambda request: request.path == failing, "server_error")
    assert client.get(transactions_path("acct_3"), headers=bearer(api, "acct_3")).status_code == 500
    assert client.get(transactions_path("acct_4"), headers=bearer(api, "acct_4")).status_code == 200


def test_bad_paths_and_parameters(client: httpx.Client, api: SampleApi) -> None:
    path, headers = transactions_path("acct_1"), bearer(api, "acct_1")
    assert client.get(path, params={"per_page": 1001}, headers=headers).status_code == 400
    assert client.get(path, params={"page": 0}, headers=headers).json()["code"] == 2
    assert client.get("/accounts/a.b/transactions").status_code == 404
    assert client.get("/accounts/acct_1").status_code == 404
    assert client.post(transactions_path("acct_1"), headers=headers).status_code == 405


# --- the directory ---------------------------------------------------------------------------------------


def test_the_default_directory_pages_like_zoho(client: httpx.Client, api: SampleApi) -> None:
    served = walk(client, "/accounts", "accounts", 10)
    assert served == api.accounts.directory() and len(served) == 25
    assert [entry.record_count for entry in api.requests] == [10, 10, 5]
    assert all(isinstance(account["account_id"], str) for account in served)


def test_set_directory_serves_the_given_accounts(client: httpx.Client, api: SampleApi) -> None:
    accounts = [{"account_id": f"a{n}", "name": f"Account {n}"} for n in range(7)]
    api.accounts.set_directory(accounts)
    assert walk(client, "/accounts", "accounts", 2) == accounts
    api.accounts.set_directory([])
    body = client.get("/accounts").json()
    assert body["accounts"] == [] and body["page_context"]["has_more_page"] is False
