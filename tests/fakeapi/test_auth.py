"""Auth on the sample API: each requirement accepted and refused; the OAuth2 token endpoint's lifecycle."""

from __future__ import annotations

import base64

import httpx
import pytest

from fakeapi import ApiKeyAuth, BasicAuth, BearerAuth, OAuth2Auth, SampleApi

from .conftest import FakeClock

ITEMS = "/inventory/v1/items"
UNAUTHORIZED = {"code": 57, "message": "You are not authorized to perform this operation"}
COLLECTION_PATHS = [
    "/inventory/v1/items",
    "/crmRestApi/resources/11.12.1.0/items",
    "/v1/items",
    "/api/items",
    "/repos/items",
    "/services/data/v59.0/query",
    "/services/data/v59.0/query/01g000000000000001-200",
]


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


@pytest.mark.parametrize("path", COLLECTION_PATHS)
def test_bearer_token_guards_every_collection_endpoint(
    client: httpx.Client, api: SampleApi, path: str
) -> None:
    api.settings.auth = BearerAuth("s3cret")
    _assert_refused(client.get(path))
    _assert_refused(client.get(path, headers={"Authorization": "Bearer wrong"}))
    accepted = client.get(path, headers={"Authorization": "Bearer s3cret"})
    assert accepted.status_code != 401


def test_open_routes_need_no_credentials(client: httpx.Client, api: SampleApi) -> None:
    api.settings.auth = BearerAuth("s3cret")
    assert client.get("/health").status_code == 200
    assert client.get("/").status_code == 200
    assert client.post("/oauth/token", data={"grant_type": "client_credentials"}).status_code == 401


def test_refusal_is_logged_with_the_header_that_was_sent(client: httpx.Client, api: SampleApi) -> None:
    api.settings.auth = BearerAuth("s3cret")
    response = client.get(ITEMS, headers={"Authorization": "Bearer wrong"})
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert [(entry.status, entry.authorization) for entry in api.requests] == [(401, "Bearer wrong")]


def test_api_key_in_a_header(client: httpx.Client, api: SampleApi) -> None:
    api.settings.auth = ApiKeyAuth("X-Api-Key", "k-123", "header")
    _assert_refused(client.get(ITEMS))
    _assert_refused(client.get(ITEMS, headers={"X-Api-Key": "k-124"}))
    _assert_refused(client.get(ITEMS, params={"X-Api-Key": "k-123"}))
    assert client.get(ITEMS, headers={"x-api-key": "k-123"}).status_code == 200


def test_api_key_in_the_query(client: httpx.Client, api: SampleApi) -> None:
    api.settings.auth = ApiKeyAuth("api_key", "k-123", "query")
    _assert_refused(client.get(ITEMS))
    _assert_refused(client.get(ITEMS, headers={"api_key": "k-123"}))
    assert client.get(ITEMS, params={"api_key": "k-123"}).status_code == 200


def test_basic_auth(client: httpx.Client, api: SampleApi) -> None:
    api.settings.auth = BasicAuth("ada", "pa:ss")
    _assert_refused(client.get(ITEMS))
    _assert_refused(client.get(ITEMS, auth=("ada", "nope")))
    _assert_refused(client.get(ITEMS, headers={"Authorization": "Basic !!!"}))
    refused = client.get(ITEMS, auth=("bob", "pa:ss"))
    assert refused.headers["www-authenticate"] == 'Basic realm="sampleapi"'
    assert client.get(ITEMS, auth=("ada", "pa:ss")).status_code == 200
    assert api.requests[-1].authorization == _basic("ada", "pa:ss")


# --- OAuth2 --------------------------------------------------------------------------------------------


def _oauth(**overrides: object) -> OAuth2Auth:
    settings: dict[str, object] = {"client_id": "cid", "client_secret": "csecret", "refresh_token": "rt-1"}
    return OAuth2Auth(**{**settings, **overrides})  # type: ignore[arg-type]


def _token(client: httpx.Client, **form: str) -> httpx.Response:
    return client.post("/oauth/token", data=form)


def _refresh(client: httpx.Client) -> httpx.Response:
    return _token(
        client, grant_type="refresh_token", client_id="cid", client_secret="csecret", refresh_token="rt-1"
    )


def _bearer(response: httpx.Response) -> dict[str, str]:
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_refresh_token_grant_issues_a_token_the_collections_accept(
    client: httpx.Client, api: SampleApi
) -> None:
    api.settings.auth = _oauth()
    response = _refresh(client)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    _assert_refused(client.get(ITEMS))
    assert client.get(ITEMS, headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 200
    _assert_refused(client.get(ITEMS, headers={"Authorization": f"Bearer {body['access_token']}x"}))
    assert api.token_requests == 1


def test_client_credentials_grant_in_the_body_or_as_basic(client: httpx.Client, api: SampleApi) -> None:
    api.settings.auth = _oauth(refresh_token=None)
    form = {
        "grant_type": "client_credentials",
        "client_id": "cid",
        "client_secret": "csecret",
        "scope": "read",
    }
    in_body = _token(client, **form)
    assert in_body.status_code == 200 and in_body.json()["scope"] == "read"
    as_basic = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("cid", "csecret"))
    assert as_basic.status_code == 200
    assert as_basic.json()["access_token"] != in_body.json()["access_token"]
    assert api.token_requests == 2
    assert api.requests[-1].authorization == _basic("cid", "csecret")


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "client_credentials", "client_secret": "bad"}, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "who"}, 401, "invalid_client"),
        ({"grant_type": "refresh_token", "refresh_token": "x"}, 400, "invalid_grant"),
        ({"grant_type": "refresh_token"}, 400, "invalid_grant"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
    ],
)
def test_token_endpoint_refuses_bad_requests(
    client: httpx.Client, api: SampleApi, form: dict[str, str], status: int, error: str
) -> None:
    api.settings.auth = _oauth()
    response = _token(client, **{"client_id": "cid", "client_secret": "csecret", **form})
    assert (response.status_code, response.json()["error"]) == (status, error)
    assert api.token_requests == 0


def test_token_endpoint_without_oauth_configured_knows_no_client(client: httpx.Client) -> None:
    response = _token(client, grant_type="client_credentials", client_id="cid", client_secret="csecret")
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    assert client.post("/oauth/token", json={"grant_type": "client_credentials"}).status_code == 400


def test_token_scheme_can_be_zohos(client: httpx.Client, api: SampleApi) -> None:
    api.settings.auth = _oauth(scheme="Zoho-oauthtoken")
    token = _token(client, grant_type="client_credentials", client_id="cid", client_secret="csecret").json()
    _assert_refused(client.get(ITEMS, headers={"Authorization": f"Bearer {token['access_token']}"}))
    accepted = client.get(ITEMS, headers={"Authorization": f"Zoho-oauthtoken {token['access_token']}"})
    assert accepted.status_code == 200


def test_token_expires_after_its_ttl(client: httpx.Client, api: SampleApi, clock: FakeClock) -> None:
    api.settings.auth = _oauth(token_ttl_seconds=60)
    headers = _bearer(_refresh(client))
    clock.now += 59.9
    assert client.get(ITEMS, headers=headers).status_code == 200
    clock.now += 0.1
    _assert_refused(client.get(ITEMS, headers=headers))
    assert client.get(ITEMS, headers=_bearer(_refresh(client))).status_code == 200
    assert api.token_requests == 2


def test_token_is_revoked_after_max_uses(client: httpx.Client, api: SampleApi) -> None:
    api.settings.auth = _oauth(max_uses_per_token=3)
    token = _token(client, grant_type="client_credentials", client_id="cid", client_secret="csecret")
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert [client.get(ITEMS, headers=headers).status_code for _ in range(4)] == [200, 200, 200, 401]
    assert client.get("/health", headers=headers).status_code == 200


def test_tokens_of_a_replaced_client_are_refused(client: httpx.Client, api: SampleApi) -> None:
    api.settings.auth = _oauth()
    token = _token(client, grant_type="client_credentials", client_id="cid", client_secret="csecret")
    api.settings.auth = _oauth(client_id="other")
    _assert_refused(client.get(ITEMS, headers={"Authorization": f"Bearer {token.json()['access_token']}"}))
