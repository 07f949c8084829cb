"""The sample API as a server: plain routes, request log, latency, fault hook, keep-alive and lifecycle."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable

import httpx
import pytest

from fakeapi import Inventory, SampleApi, SampleApiSettings
from fakeapi.messages import ApiRequest, Response

Connect = Callable[[str], httpx.Client]


# --- the other routes ---------------------------------------------------------------------------------


def test_base_url_answers_html(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.lstrip().lower().startswith("<!doctype html>")


def test_health_and_unknown_paths(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    missing = client.get("/inventory/v2/items")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/json" and "message" in missing.json()
    assert client.post("/inventory/v1/items").status_code == 405


# --- behaviour of the server itself -------------------------------------------------------------------


def test_request_log_records_what_the_api_saw(client: httpx.Client, api: SampleApi) -> None:
    client.get(
        "/inventory/v1/items", params={"per_page": 50, "page": 2}, headers={"Authorization": "Bearer x"}
    )
    client.get("/health")
    client.get("/nowhere")
    client.get("/v1/items", params={"limit": 0})
    client.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert [(e.method, e.path, e.query, e.status, e.record_count, e.authorization) for e in api.requests] == [
        ("GET", "/inventory/v1/items", {"per_page": "50", "page": "2"}, 200, 50, "Bearer x"),
        ("GET", "/health", {}, 200, 0, None),
        ("GET", "/nowhere", {}, 404, 0, None),
        ("GET", "/v1/items", {"limit": "0"}, 400, 0, None),
        ("POST", "/oauth/token", {}, 401, 0, None),
    ]
    api.clear_log()
    assert api.requests == []


def test_latency_setting_delays_collection_requests_only(client: httpx.Client, api: SampleApi) -> None:
    api.settings.latency_seconds = 0.05
    started = time.perf_counter()
    client.get("/health")
    assert time.perf_counter() - started < 0.05
    started = time.perf_counter()
    client.get("/inventory/v1/items", params={"per_page": 1})
    assert time.perf_counter() - started >= 0.05


def test_one_connection_serves_many_requests(api: SampleApi) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
    for page in range(1, 6):
        connection.request("GET", f"/inventory/v1/items?page={page}&per_page=10")
        response = connection.getresponse()
        assert response.version == 11 and response.getheader("Content-Length") is not None
        assert len(response.read()) == int(response.getheader("Content-Length", "0"))
    connection.close()


def test_stop_closes_connections_and_restart_keeps_port_and_log(connect: Connect) -> None:
    api = SampleApi(Inventory(10), SampleApiSettings(max_page_size=5)).start()
    url = api.url
    client = connect(url)
    assert client.get("/health").status_code == 200
    api.stop()
    assert not api.is_running
    with pytest.raises(httpx.TransportError):
        client.get("/health")
    with api:
        assert api.url == url
        assert client.get("/inventory/v1/items", params={"per_page": 5}).json()["page_context"]["total"] == 10
    assert [entry.path for entry in api.requests] == ["/health", "/inventory/v1/items"]
    api.stop()  # idempotent


def test_url_and_port_before_start_raise() -> None:
    api = SampleApi()
    with pytest.raises(RuntimeError):
        _ = api.url
    assert len(api.inventory) == 1000


class _ServiceUnavailable:
    """A fault plan that answers every collection request with a 503."""

    def before_collection_response(self, _request: ApiRequest, _response: Response) -> Response:
        return Response(503, b'{"message":"try later"}', headers=(("Retry-After", "1"),))


class _Broken:
    def before_collection_response(self, _request: ApiRequest, _response: Response) -> Response:
        raise RuntimeError("bug in a fault plan")


def test_fault_plan_sees_every_collection_response(client: httpx.Client, api: SampleApi) -> None:
    api.settings.faults = _ServiceUnavailable()
    response = client.get("/v1/items")
    assert (response.status_code, response.headers["retry-after"]) == (503, "1")
    assert client.get("/health").status_code == 200
    assert [entry.status for entry in api.requests] == [503, 200]


def test_an_error_inside_the_api_is_a_logged_500(
    client: httpx.Client, api: SampleApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.settings.faults = _Broken()
    response = client.get("/v1/items")
    assert response.status_code == 500 and response.json()["code"] == 500
    assert api.requests[-1].status == 500
    assert "bug in a fault plan" in capsys.readouterr().err


def test_other_methods_are_logged_405s(client: httpx.Client, api: SampleApi) -> None:
    assert client.head("/").status_code == 405
    assert client.delete("/v1/items").status_code == 405
    assert client.get("/health").status_code == 200  # the connection is still in step after HEAD
    assert [(entry.method, entry.status) for entry in api.requests] == [
        ("HEAD", 405), ("DELETE", 405), ("GET", 200),
    ]  # fmt: skip
