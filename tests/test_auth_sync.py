"""Every auth type against the sample API, including tokens that expire or are revoked mid-sync, syncing
into SQLite and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

import pytest

import batchsync
from batchsync.models import RunStatus
from fakeapi import ApiKeyAuth, BasicAuth, BearerAuth, OAuth2Auth, SampleApi
from syncsupport import assert_table_at_equals_source, pipeline_config, url_document

SECRET = "s3cr3t-Value-42"


def run_with(
    api: SampleApi, database_url: str, auth: dict[str, Any], *, concurrency: int | None = None, **source: Any
) -> batchsync.RunResult:
    pipeline = pipeline_config(api.url, "page_number_has_more", auth=auth, **source)
    pipeline["source"]["paginator"]["page_size"] = 50
    if concurrency is not None:
        pipeline["concurrency"] = concurrency
    return batchsync.run("items", url_document(database_url, {"items": pipeline}))


@pytest.mark.parametrize(
    ("server_side", "client_side"),
    [
        (BearerAuth(SECRET), {"type": "bearer", "token": SECRET}),
        (ApiKeyAuth("X-Api-Key", SECRET), {"type": "api_key", "name": "X-Api-Key", "value": SECRET}),
        (
            ApiKeyAuth("api_key", SECRET, "query"),
            {"type": "api_key", "name": "api_key", "value": SECRET, "in": "query"},
        ),
        (BasicAuth("ada", SECRET), {"type": "basic", "username": "ada", "password": SECRET}),
    ],
    ids=["bearer", "api_key_header", "api_key_query", "basic"],
)
def test_static_credentials_are_sent_and_wrong_ones_fail_clearly(
    api: SampleApi, database_url: str, server_side: Any, client_side: dict[str, Any]
) -> None:
    api.settings.auth = server_side

    good = run_with(api, database_url, client_side)
    wrong = {
        **client_side,
        **{k: "wrong-" + SECRET for k in ("token", "value", "password") if k in client_side},
    }
    bad = run_with(api, database_url, wrong)

    assert good.status is RunStatus.SUCCEEDED, good.error
    assert_table_at_equals_source(database_url, api.inventory)
    assert bad.status is RunStatus.FAILED
    assert "401" in (bad.error or "") and "credentials" in (bad.error or "")
    assert SECRET not in (bad.error or "")


def oauth_client(api: SampleApi, grant: str, **extra: Any) -> dict[str, Any]:
    auth = {"type": grant, "token_url": f"{api.url}/oauth/token", "client_id": "cid", "client_secret": SECRET}
    if grant == "oauth2_refresh_token":
        auth["refresh_token"] = "refresh-" + SECRET
    return {**auth, **extra}


def test_refresh_token_grant_with_a_zoho_style_header(api: SampleApi, database_url: str) -> None:
    api.settings.auth = OAuth2Auth("cid", SECRET, "refresh-" + SECRET, scheme="Zoho-oauthtoken")

    result = run_with(
        api, database_url, oauth_client(api, "oauth2_refresh_token", header_format="Zoho-oauthtoken {token}")
    )

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert api.token_requests == 1
    assert_table_at_equals_source(database_url, api.inventory)


def test_token_is_renewed_before_it_expires_mid_sync(api: SampleApi, database_url: str) -> None:
    api.settings.auth = OAuth2Auth("cid", SECRET, "refresh-" + SECRET, token_ttl_seconds=0.5)
    api.settings.latency_seconds = 0.02  # 20 pages × 20 ms: the sync outlives several tokens

    result = run_with(  # pages one after another, so the sync lasts the 0.4 s that outlives a token
        api,
        database_url,
        oauth_client(api, "oauth2_refresh_token", refresh_margin_seconds=0.25),
        concurrency=1,
    )

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert api.token_requests >= 2
    assert not [r for r in api.requests if r.status == 401], "renewal should come before expiry"
    assert_table_at_equals_source(database_url, api.inventory)


def test_token_revoked_mid_sync_is_refreshed_once_on_401(api: SampleApi, database_url: str) -> None:
    api.settings.auth = OAuth2Auth("cid", SECRET, token_ttl_seconds=3600, max_uses_per_token=6)

    # One request at a time: with several in flight, each one refused may refresh the token.
    credentials = oauth_client(api, "oauth2_client_credentials", scope="items.read")
    result = run_with(api, database_url, credentials, concurrency=1)

    refused = [r for r in api.requests if r.status == 401]
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert len(refused) >= 2 and api.token_requests == len(refused) + 1
    assert_table_at_equals_source(database_url, api.inventory)


def test_401_after_a_fresh_token_fails_clearly_without_looping(api: SampleApi, database_url: str) -> None:
    api.settings.auth = OAuth2Auth("cid", SECRET, max_uses_per_token=0)

    result = run_with(api, database_url, oauth_client(api, "oauth2_client_credentials"))

    assert result.status is RunStatus.FAILED
    assert "401" in (result.error or "")
    assert api.token_requests == 2, "one token, one refresh after the 401, then stop"


def test_token_endpoint_refusing_the_client_fails_without_leaking_the_secret(
    api: SampleApi, database_url: str
) -> None:
    api.settings.auth = OAuth2Auth("cid", "the-real-secret")

    result = run_with(api, database_url, oauth_client(api, "oauth2_client_credentials"))

    assert result.status is RunStatus.FAILED
    assert "token endpoint" in (result.error or "")
    assert SECRET not in (result.error or "")
