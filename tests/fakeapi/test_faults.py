"""Fault injection over a real socket: each fault breaks a client as it should, at the configured rates."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx
import orjson
import pytest

from fakeapi import Inventory, SampleApi
from fakeapi.faults import (
    FAULT_KINDS,
    AlwaysFail,
    FailNth,
    FailWhere,
    FaultKind,
    FaultOptions,
    FaultRates,
    RandomFaults,
)
from fakeapi.messages import ApiRequest, Response

PAGES = "/inventory/v1/items"
OFFSETS = "/crmRestApi/resources/11.12.1.0/items"
Connect = Callable[[str], httpx.Client]
RATES = FaultRates(
    server_error=0.10, rate_limited=0.05, hang=0.02, truncated=0.02, invalid_json=0.02, dropped=0.01
)


def observe(client: httpx.Client, path: str = PAGES, **params: str | int) -> str:
    """What a client sees of one request: "ok", or the fault kind its symptoms identify."""
    try:
        response = client.get(path, params=params)
    except httpx.RemoteProtocolError as error:
        return "truncated" if "complete message body" in str(error) else "dropped"
    if response.status_code == 429:
        return "rate_limited"
    if response.status_code >= 500:
        return "server_error"
    try:
        orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return "invalid_json"
    return "ok"


def test_random_faults_come_at_the_configured_rates_and_are_all_recorded(
    client: httpx.Client, api: SampleApi
) -> None:
    hang_seconds = 0.01
    api.settings.faults = RandomFaults(RATES, seed=11, options=FaultOptions(hang_seconds=hang_seconds))
    seen: list[tuple[str, float]] = []
    for _ in range(2000):
        started = time.perf_counter()
        outcome = observe(client, per_page=1)
        seen.append((outcome, time.perf_counter() - started))

    log = api.requests
    assert len(log) == 2000
    # Every request is logged with the fault the client actually met; a hang is a whole answer, only late.
    for (outcome, elapsed), entry in zip(seen, log, strict=True):
        assert outcome == ("ok" if entry.fault in (None, "hang") else entry.fault)
        if entry.fault == "hang":
            assert elapsed >= hang_seconds
    injected = api.faults_injected
    assert injected == Counter(entry.fault for entry in log if entry.fault is not None)
    assert set(injected) == set(FAULT_KINDS)
    for kind, rate in RATES.by_kind().items():
        expected = 2000 * rate
        assert abs(injected[kind] - expected) <= 4 * math.sqrt(expected * (1 - rate)) + 1, (kind, injected)


def test_the_same_seed_gives_the_same_faults_in_the_same_order(client: httpx.Client, api: SampleApi) -> None:
    api.settings.faults = RandomFaults(RATES, seed=5, options=FaultOptions(hang_seconds=0))
    for _ in range(300):
        observe(client, per_page=1)
    replay = RandomFaults(RATES, seed=5, options=FaultOptions(hang_seconds=0))
    request, page = ApiRequest("GET", PAGES), Response(200, b"{}")
    expected = [replay.before_collection_response(request, page) for _ in range(300)]
    assert [(entry.fault, entry.status) for entry in api.requests] == [
        (response.fault, response.status) for response in expected
    ]
    other = RandomFaults(RATES, seed=6)
    assert [other.before_collection_response(request, page).fault for _ in range(300)] != [
        response.fault for response in expected
    ]


def test_server_errors_mix_the_configured_statuses_with_json_bodies(
    client: httpx.Client, api: SampleApi
) -> None:
    api.settings.faults = RandomFaults(FaultRates(server_error=1.0), seed=1)
    responses = [client.get(PAGES, params={"per_page": 1}) for _ in range(60)]
    assert {response.status_code for response in responses} == {500, 502, 503, 504}
    assert all(response.json()["code"] == response.status_code for response in responses)
    assert all(response.headers["content-type"] == "application/json" for response in responses)
    assert api.faults_injected == Counter(server_error=60)


def test_truncated_body_is_a_protocol_error_and_the_next_request_works(
    client: httpx.Client, api: SampleApi
) -> None:
    api.settings.faults = FailNth({1: "truncated"})
    with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
        client.get(PAGES)
    assert client.get(PAGES).status_code == 200
    assert [(entry.status, entry.fault, entry.record_count) for entry in api.requests] == [
        (200, "truncated", 0),
        (200, None, 200),
    ]


def test_truncated_body_promises_the_full_length_and_delivers_half(api: SampleApi) -> None:
    api.settings.faults = AlwaysFail("truncated")
    chunks: list[bytes] = []
    with (
        httpx.Client(base_url=api.url, timeout=5.0) as client,
        client.stream("GET", PAGES) as response,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        promised = int(response.headers["content-length"])
        chunks.extend(response.iter_raw())
    assert len(b"".join(chunks)) == promised // 2


def test_dropped_connection_gets_no_response(client: httpx.Client, api: SampleApi) -> None:
    api.settings.faults = AlwaysFail("dropped")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get(PAGES)
    assert (api.requests[-1].status, api.requests[-1].fault) == (0, "dropped")


def test_invalid_json_is_a_whole_200_body_cut_mid_json(client: httpx.Client, api: SampleApi) -> None:
    api.settings.faults = AlwaysFail("invalid_json")
    response = client.get(PAGES, params={"per_page": 5})
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.content.startswith(b'{"code":0,"message":"success","items":[{"item_id":"48')
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


def test_hang_outlasts_a_read_timeout_and_does_not_hold_up_stop(inventory: Inventory) -> None:
    api = SampleApi(inventory).start()
    api.settings.faults = AlwaysFail("hang")  # the default two seconds
    with httpx.Client(base_url=api.url, timeout=httpx.Timeout(5.0, read=0.2)) as client:
        started = time.perf_counter()
        with pytest.raises(httpx.ReadTimeout):
            client.get(PAGES)
        assert 0.2 <= time.perf_counter() - started < 1.0
    started = time.perf_counter()
    api.stop()
    assert time.perf_counter() - started < 0.5
    assert api.faults_injected == Counter(hang=1)


def test_hang_then_answers_normally_for_a_patient_client(client: httpx.Client, api: SampleApi) -> None:
    api.settings.faults = AlwaysFail("hang", options=FaultOptions(hang_seconds=0.05))
    started = time.perf_counter()
    response = client.get(PAGES, params={"per_page": 3})
    assert time.perf_counter() - started >= 0.05
    assert len(response.json()["items"]) == 3


def test_rate_limited_fault_sends_the_configured_retry_after(client: httpx.Client, api: SampleApi) -> None:
    api.settings.faults = AlwaysFail("rate_limited", options=FaultOptions(retry_after_seconds=7))
    response = client.get(PAGES)
    assert (response.status_code, response.headers["retry-after"]) == (429, "7")
    assert response.json()["code"] == 429


def test_fail_nth_fails_exactly_those_collection_requests(client: httpx.Client, api: SampleApi) -> None:
    api.settings.faults = FailNth({3: "server_error", 7: "dropped", 8: "rate_limited"})
    outcomes = [observe(client, per_page=1) for _ in range(10)]
    client.get("/health")  # not a collection request, so it neither counts nor fails
    assert outcomes == ["ok", "ok", "server_error", "ok", "ok", "ok", "dropped", "rate_limited", "ok", "ok"]
    assert api.requests[2].status == 500  # the deterministic plans send the first configured status
    assert api.faults_injected == Counter(server_error=1, dropped=1, rate_limited=1)


def test_fail_where_query_fails_one_page_on_every_attempt(client: httpx.Client, api: SampleApi) -> None:
    api.settings.faults = FailWhere({"page": 5}, "server_error")
    assert [observe(client, page=5, per_page=100) for _ in range(4)] == ["server_error"] * 4
    assert observe(client, page=4, per_page=100) == "ok"
    assert observe(client, page=6, per_page=100) == "ok"


def test_fail_where_predicate_picks_requests_by_anything(client: httpx.Client, api: SampleApi) -> None:
    api.settings.faults = FailWhere(
        lambda request: request.path == OFFSETS and request.query.get("offset") == "400", "truncated"
    )
    assert observe(client, OFFSETS, offset=400, limit=100) == "truncated"
    assert observe(client, OFFSETS, offset=300, limit=100) == "ok"
    assert observe(client, PAGES, offset=400) == "ok"


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_always_fail_fails_every_collection_request_in_every_shape(
    client: httpx.Client, api: SampleApi, kind: FaultKind
) -> None:
    api.settings.faults = AlwaysFail(kind, options=FaultOptions(hang_seconds=0.001))
    paths = [PAGES, OFFSETS, "/v1/items", "/api/items", "/repos/items", "/services/data/v59.0/query"]
    expected = "ok" if kind == "hang" else kind
    assert [observe(client, path) for path in paths] == [expected] * len(paths)
    assert client.get("/health").status_code == 200
    assert api.faults_injected == Counter({kind: len(paths)})


def test_bad_fault_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="add up"):
        FaultRates(server_error=0.6, dropped=0.5)
    with pytest.raises(ValueError, match=r"0\.\.1"):
        FaultRates(hang=-0.1)
    with pytest.raises(ValueError, match="unknown fault kind"):
        FailNth({1: "teapot"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="5xx"):
        FaultOptions(server_error_statuses=(404,))


def test_concurrent_clients_share_one_count_that_matches_the_log(api: SampleApi, connect: Connect) -> None:
    api.settings.faults = RandomFaults(RATES, seed=2, options=FaultOptions(hang_seconds=0.001))
    tallies: list[Counter[str]] = []

    def hammer() -> None:
        client = connect(api.url)
        tallies.append(Counter(observe(client, per_page=1) for _ in range(150)))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seen = sum(tallies, Counter())
    injected = api.faults_injected
    assert len(api.requests) == seen.total() == 600
    assert injected == Counter(entry.fault for entry in api.requests if entry.fault is not None)
    assert seen - Counter(ok=seen["ok"]) == injected - Counter(hang=injected["hang"])
