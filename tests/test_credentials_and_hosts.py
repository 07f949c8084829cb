"""Credentials go only to the API's own origin, every form of a secret is masked, and hostile answers
(redirect loops, unreadable URLs, broken compression) end in a clear error, never a traceback. Two real
servers on 127.0.0.1 stand for the API and for a host it should not be able to send our credentials to."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from batchsync.cli import app
from fakeapi import Inventory, SampleApi
from fakeapi.messages import ApiRequest, Response
from syncsupport import config_document, fetch_all, write_config

runner = CliRunner(env={"COLUMNS": "200"})
PATH = "/inventory/v1/items"
TOKEN = "tok-3f9a1c77e2"
Answer = Callable[[ApiRequest], Response]


class Scripted:
    """A fault plan answering each collection request with `answer(request)`."""

    def __init__(self, answer: Answer) -> None:
        self._answer = answer

    def before_collection_response(self, request: ApiRequest, _response: Response) -> Response:
        return self._answer(request)


def records_page(records: list[dict[str, Any]], **extra: Any) -> Response:
    return Response(200, orjson.dumps({"items": records, **extra}))


@pytest.fixture
def other_host() -> Iterator[SampleApi]:
    """A second server: another origin, which must never see the pipeline's credentials."""
    with SampleApi(Inventory(size=10)) as server:
        yield server


def pipeline(api: SampleApi, paginator: dict[str, Any], **source: Any) -> dict[str, Any]:
    return {
        "source": {
            "type": "rest",
            "base_url": api.url,
            "path": PATH,
            "records_path": "items",
            "paginator": paginator,
            "auth": {"type": "bearer", "token": TOKEN},
            **source,
        },
        "retry": {"max_attempts": 2, "backoff": 0},
        "destination": {"table": "items", "primary_key": "id", "columns": {"id": {"path": "id"}}},
    }


NEXT_URL = {"type": "next_url", "next_url_path": "next"}


def run_cli(tmp_path: Path, config: dict[str, Any], *options: str) -> Any:
    config_file = write_config(tmp_path / "c.yaml", config_document(tmp_path / "sync.db", {"items": config}))
    return runner.invoke(app, ["run", "items", "-c", str(config_file), *options])


def ids_in_table(tmp_path: Path) -> list[str]:
    return sorted(row[0] for row in fetch_all(f"sqlite:///{tmp_path / 'sync.db'}", "SELECT id FROM items"))


def next_page_at(url: str) -> Answer:
    """Page 1 (no `page` param) names `url` as the next page; any later request gets the last page."""

    def answer(request: ApiRequest) -> Response:
        if "page" not in request.query:
            return records_page([{"id": "a"}], next=url)
        return records_page([{"id": "b"}], next=None)

    return answer


# -- point 6: credentials only for the API's own origin ------------------------------------------------


def test_a_next_link_to_another_host_stops_the_run_and_that_host_gets_nothing(
    api: SampleApi, other_host: SampleApi, tmp_path: Path
) -> None:
    api.settings.faults = Scripted(next_page_at(f"{other_host.url}{PATH}?page=2"))

    result = run_cli(tmp_path, pipeline(api, NEXT_URL))

    assert result.exit_code == 1, result.output  # page 1 was committed
    assert "another host" in result.output and "allowed_hosts" in result.output
    assert other_host.requests == [], "not a single request, so no credential, reached the other host"
    assert ids_in_table(tmp_path) == ["a"]


def test_another_host_name_for_the_same_address_is_another_origin(api: SampleApi, tmp_path: Path) -> None:
    same_server_by_name = api.url.replace("127.0.0.1", "localhost")
    api.settings.faults = Scripted(next_page_at(f"{same_server_by_name}{PATH}?page=2"))

    result = run_cli(tmp_path, pipeline(api, NEXT_URL))

    assert "another host" in result.output
    assert [request.authorization for request in api.requests if request.path == PATH] == [f"Bearer {TOKEN}"]


def test_a_host_listed_in_allowed_hosts_is_followed_with_credentials(api: SampleApi, tmp_path: Path) -> None:
    same_server_by_name = api.url.replace("127.0.0.1", "localhost")
    api.settings.faults = Scripted(next_page_at(f"{same_server_by_name}{PATH}?page=2"))

    result = run_cli(tmp_path, pipeline(api, NEXT_URL, allowed_hosts=["localhost"]))

    assert result.exit_code == 0, result.output
    assert ids_in_table(tmp_path) == ["a", "b"]
    page_two = [request for request in api.requests if request.query.get("page") == "2"]
    assert [request.authorization for request in page_two] == [f"Bearer {TOKEN}"]


def test_a_link_header_to_another_host_is_refused_too(
    api: SampleApi, other_host: SampleApi, tmp_path: Path
) -> None:
    def answer(_request: ApiRequest) -> Response:
        link = f'<{other_host.url}{PATH}?page=2>; rel="next"'
        return Response(200, orjson.dumps({"items": [{"id": "a"}]}), headers=(("Link", link),))

    api.settings.faults = Scripted(answer)

    result = run_cli(tmp_path, pipeline(api, {"type": "link_header"}))

    assert "another host" in result.output
    assert other_host.requests == []


@pytest.mark.parametrize("link", ["ftp://127.0.0.1/items", "file:///etc/passwd"])
def test_only_http_and_https_links_are_followed(link: str, api: SampleApi, tmp_path: Path) -> None:
    api.settings.faults = Scripted(next_page_at(link))

    result = run_cli(tmp_path, pipeline(api, NEXT_URL))

    assert result.exit_code == 1, result.output
    assert "not an http or https URL" in result.output


def test_a_redirect_to_another_origin_loses_every_credential(
    api: SampleApi, other_host: SampleApi, tmp_path: Path
) -> None:
    def answer(_request: ApiRequest) -> Response:
        return Response(302, b"", headers=(("Location", f"{other_host.url}/inventory/v1/items?page=1"),))

    seen_there: list[ApiRequest] = []

    def record_there(request: ApiRequest) -> Response:
        seen_there.append(request)
        return records_page([])

    api.settings.faults = Scripted(answer)
    other_host.settings.faults = Scripted(record_there)
    config = pipeline(api, {"type": "page_number", "page_size": 200})
    config["source"]["auth"] = {"type": "api_key", "name": "api_key", "value": TOKEN, "in": "query"}
    config["source"]["headers"] = {"X-Tenant-Key": "tenant-secret-99"}

    run_cli(tmp_path, config)

    assert seen_there, "the redirect was followed"
    for request in seen_there:
        assert "api_key" not in request.query and request.header("authorization") is None
        assert request.header("x-tenant-key") is None, "configured headers stay with the API's origin"


# -- point 7: every form a secret travels in is masked --------------------------------------------------

USER = "sync-user"
PASSWORD = 'pa"ss\\wörd-1234'


def test_basic_credentials_echoed_in_any_form_are_masked_everywhere(api: SampleApi, tmp_path: Path) -> None:
    pair = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    escaped = json.dumps(PASSWORD)[1:-1]

    def answer(request: ApiRequest) -> Response:
        echoed = {"authorization": request.header("authorization"), "password": PASSWORD}
        if request.query.get("page") == "2":  # an error body that repeats what it was sent
            return Response(400, json.dumps({"error": "bad request", **echoed}, ensure_ascii=True).encode())
        keyless = {"name": "record without id", **echoed}  # a dead letter that carries the secrets
        return records_page([{"id": "a"}, keyless], page_context={"has_more_page": True})

    api.settings.faults = Scripted(answer)
    config = pipeline(
        api, {"type": "page_number", "page_size": 2, "has_more_path": "page_context.has_more_page"}
    )
    config["source"]["auth"] = {"type": "basic", "username": USER, "password": PASSWORD}

    result = run_cli(tmp_path, config, "-v")
    errors = runner.invoke(app, ["errors", "items", "-c", str(tmp_path / "c.yaml"), "--json"])
    runs = runner.invoke(app, ["runs", "items", "-c", str(tmp_path / "c.yaml"), "--json"])

    assert pair in [request.authorization.split()[-1] for request in api.requests if request.authorization]
    assert result.exit_code == 1 and "answered 400" in result.output, result.output
    with sqlite3.connect(tmp_path / "sync.db") as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    stored = (tmp_path / "sync.db").read_bytes().decode("utf-8", "replace")
    for shown in (result.output, errors.stdout, runs.stdout, stored):
        for form in (PASSWORD, pair, escaped, json.dumps(PASSWORD, ensure_ascii=False)[1:-1]):
            assert form not in shown
    assert "***" in errors.stdout and "***" in result.output


# -- point 8: hostile answers end in a clear error, never a traceback ----------------------------------


def redirect_loop(_request: ApiRequest) -> Response:
    return Response(302, b"", headers=(("Location", f"{PATH}?page=1"),))


def broken_gzip(_request: ApiRequest) -> Response:
    return Response(200, b"\x1f\x8bnot really gzip at all", headers=(("Content-Encoding", "gzip"),))


def malformed_next_url(_request: ApiRequest) -> Response:
    return records_page([], next="http://[::1")


def html(_request: ApiRequest) -> Response:
    return Response(200, b"<html><body>Login</body></html>", content_type="text/html")


def not_utf8(_request: ApiRequest) -> Response:
    return Response(200, b'{"items": [{"id": "\xff"}]}')


HOSTILE: dict[str, tuple[Answer, str]] = {
    "redirect-loop": (redirect_loop, "redirected too many times"),
    "broken-gzip": (broken_gzip, "cannot be decoded"),
    "malformed-next-url": (malformed_next_url, "not a valid URL"),
    "html": (html, "HTML where JSON was expected"),
    "invalid-utf8": (not_utf8, "invalid UTF-8"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_answers_give_a_clear_error_and_no_traceback(
    case: str, api: SampleApi, tmp_path: Path
) -> None:
    answer, expected = HOSTILE[case]

    def first_page_fine_then_hostile(request: ApiRequest) -> Response:
        if "page" not in request.query:
            return records_page([{"id": "a"}], next=f"{PATH}?page=2")
        if case == "malformed-next-url" and request.query.get("page") == "2":
            return records_page([{"id": "b"}], next="http://[::1")
        return answer(request)

    api.settings.faults = Scripted(first_page_fine_then_hostile)

    result = run_cli(tmp_path, pipeline(api, NEXT_URL))
    again = run_cli(tmp_path, pipeline(api, NEXT_URL), "--json")

    for output in (result.output, again.output):
        assert "Traceback" not in output and "internal error" not in output
    assert expected in result.output, result.output
    assert result.exit_code in (1, 2) and again.exit_code == 2, again.output
    assert "a" in ids_in_table(tmp_path), "the page before the hostile one stays committed"
    resumed = [request for request in api.requests if request.path == PATH][-1]
    assert "page" in resumed.query, "the rerun resumed at the hostile page, not at the start"
