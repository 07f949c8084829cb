"""`/api/keycheck`: GET and POST answer alike, and the whole batch is refused for one bad or failing key."""

from __future__ import annotations

import httpx
import pytest

from fakeapi import ApiKeyAuth, Drift, SampleApi

KEYCHECK = "/api/keycheck"
UNKNOWN = "AAAAA-AAAAA-AAAAA-AAAAA-AAAAA"  # well formed, but "A" is not in the generated keys' alphabet

Answer = dict[str, object]


def known_keys(api: SampleApi, count: int) -> list[str]:
    return [str(answer["keyname_with_dash"]) for answer in api.keys.all()[:count]]


def check_get(client: httpx.Client, keys: list[str], **params: str) -> httpx.Response:
    return client.get(KEYCHECK, params={"keys": ",".join(keys), **params})


def check_post(client: httpx.Client, keys: list[str], **params: str) -> httpx.Response:
    return client.post(KEYCHECK, params=params, json={"keys": keys})


CHECKS = {"get": check_get, "post": check_post}


def test_get_and_post_give_the_same_answers_and_skip_unknown_keys(
    client: httpx.Client, api: SampleApi
) -> None:
    keys = known_keys(api, 30)
    asked = [keys[7], UNKNOWN, *keys[:5], keys[7]]
    by_get, by_post = check_get(client, asked), check_post(client, asked)
    assert by_get.status_code == by_post.status_code == 200
    assert by_get.json() == by_post.json() == api.keys.lookup(asked)
    assert [answer["keyname_with_dash"] for answer in by_get.json()] == [keys[7], *keys[:5]]
    get_entry, post_entry = api.requests
    assert (get_entry.record_count, get_entry.key_count, get_entry.body) == (6, 8, None)
    assert (post_entry.record_count, post_entry.key_count) == (6, 8)
    assert post_entry.body is not None and UNKNOWN in post_entry.body


def test_answers_follow_updates(client: httpx.Client, api: SampleApi) -> None:
    changed = api.keys.update(3, seed=1)
    assert check_get(client, changed).json() == [api.keys.get(key) for key in changed]


@pytest.mark.parametrize("method", CHECKS)
def test_more_keys_than_the_limit_is_a_400(client: httpx.Client, api: SampleApi, method: str) -> None:
    keys = known_keys(api, 51)
    refused = CHECKS[method](client, keys)
    assert (refused.status_code, refused.json()) == (400, {"error": "too many keys: 51 > 50"})
    assert CHECKS[method](client, keys[:50]).status_code == 200
    api.settings.lookup_max_keys = 10
    assert CHECKS[method](client, keys[:11]).json() == {"error": "too many keys: 11 > 10"}


@pytest.mark.parametrize("method", CHECKS)
@pytest.mark.parametrize("bad", ["ABCDE-FGHIJ-KLMNO-PQRST-UVWX", "abcde-fghij-klmno-pqrst-uvwxy", "K1"])
def test_one_malformed_key_rejects_the_whole_batch(
    client: httpx.Client, api: SampleApi, method: str, bad: str
) -> None:
    keys = known_keys(api, 10)
    refused = CHECKS[method](client, [*keys[:4], bad, *keys[4:]])
    assert (refused.status_code, refused.json()) == (400, {"error": f"invalid key: {bad}"})
    assert api.requests[-1].record_count == 0


@pytest.mark.parametrize("method", CHECKS)
def test_a_fail_key_fails_its_batch_on_every_attempt(
    client: httpx.Client, api: SampleApi, method: str
) -> None:
    keys = known_keys(api, 10)
    api.settings.lookup_fail_keys = {keys[3]}
    for _ in range(3):
        assert CHECKS[method](client, keys[:5]).status_code == 503
    assert CHECKS[method](client, keys[4:]).status_code == 200  # the batch without it is fine
    assert CHECKS[method](client, [UNKNOWN]).json() == []
    assert api.faults_injected["lookup_failed"] == 3
    api.settings.lookup_fail_keys = set()
    assert CHECKS[method](client, keys[:5]).status_code == 200


@pytest.mark.parametrize("method", CHECKS)
def test_api_key_in_the_query_guards_the_service(client: httpx.Client, api: SampleApi, method: str) -> None:
    api.settings.auth = ApiKeyAuth("apikey", "k-123", "query")
    keys = known_keys(api, 3)
    assert CHECKS[method](client, keys).status_code == 401
    assert CHECKS[method](client, keys, apikey="wrong").status_code == 401
    allowed = CHECKS[method](client, keys, apikey="k-123")
    assert allowed.status_code == 200 and len(allowed.json()) == 3
    assert api.requests[-1].query["apikey"] == "k-123"


def test_unreadable_requests_are_400s_and_other_methods_405s(client: httpx.Client) -> None:
    assert client.get(KEYCHECK).json() == {"error": "missing keys parameter: ?keys=K1,K2,..."}
    assert client.post(KEYCHECK, content=b"not json").status_code == 400
    assert client.post(KEYCHECK, json=["K1"]).status_code == 400
    assert client.post(KEYCHECK, json={"keys": [5]}).json() == {"error": "invalid key: 5"}
    assert client.put(KEYCHECK, json={"keys": []}).status_code == 405
    assert client.get(KEYCHECK, params={"keys": ""}).json() == []


def test_key_checks_do_not_move_the_inventory(client: httpx.Client, api: SampleApi) -> None:
    api.settings.drift = Drift(every_pages=1, insert=1)
    check_get(client, known_keys(api, 3))
    check_post(client, known_keys(api, 3))
    assert api.drift_events == []
