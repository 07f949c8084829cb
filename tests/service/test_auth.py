"""Who may call what, on every route of the running service: no token or a wrong one gets 401, the read
token may only read (403 elsewhere), the admin token may do everything, /health and /metrics are open;
`serve` refuses to start without a token, and `--no-auth` off loopback. No token ever shows in a body."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from batchsync.cli import app
from batchsync.errors import ConfigError
from batchsync.service.auth import Tokens
from batchsync.service.server import tokens_for
from fakeapi import Inventory, SampleApi
from servicesupport import ADMIN, READER, RunningService
from syncsupport import pipeline_config, url_document, write_config

# Every route, with a request that does nothing lasting (a dry run; unknown run ids).
READ_ROUTES = [
    ("GET", "/api/pipelines"),
    ("GET", "/api/pipelines/items"),
    ("GET", "/api/pipelines/items/stats"),
    ("GET", "/api/pipelines/items/errors"),
    ("GET", "/api/runs"),
    ("GET", "/api/runs/no-such-run"),
]
WRITE_ROUTES = [
    ("POST", "/api/pipelines/items/runs?wait=true"),
    ("POST", "/api/pipelines/items/retry-failed?wait=true"),
    ("POST", "/api/pipelines/items/reset"),
    ("POST", "/api/runs/no-such-run/cancel"),
]
OPEN_ROUTES = [("GET", "/health"), ("GET", "/metrics"), ("GET", "/openapi.json")]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[RunningService]:
    with SampleApi(Inventory(size=30)) as api:
        document = url_document(f"sqlite:///{tmp_path / 'sync.db'}", {"items": pipeline_config(api.url)})
        with RunningService(document) as service:
            yield service


@pytest.mark.parametrize(("method", "path"), READ_ROUTES + WRITE_ROUTES)
def test_a_route_without_a_token_or_with_a_wrong_one_answers_401(
    served: RunningService, method: str, path: str
) -> None:
    for token in (None, "wrong-token-0123456789", ADMIN + "x", ADMIN[:-1]):
        with served.client(token) as client:
            answer = client.request(
                method, path, json={"dry_run": True} if path.endswith("runs?wait=true") else None
            )
        assert answer.status_code == 401, (token, answer.text)
        assert answer.json()["error"]["code"] == "unauthorized"
        assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path"), READ_ROUTES)
def test_the_read_token_and_the_admin_token_may_read(served: RunningService, method: str, path: str) -> None:
    for token in (READER, ADMIN):
        with served.client(token) as client:
            answer = client.request(method, path)
        expected = 404 if "no-such-run" in path else 200
        assert answer.status_code == expected, (token, answer.text)


@pytest.mark.parametrize(("method", "path"), WRITE_ROUTES)
def test_the_read_token_gets_403_where_the_admin_token_is_let_through(
    served: RunningService, method: str, path: str
) -> None:
    body = {"dry_run": True} if path.endswith("runs?wait=true") else None
    with served.client(READER) as client:
        refused = client.request(method, path, json=body)
    with served.client(ADMIN) as client:
        allowed = client.request(method, path, json=body)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert allowed.status_code in (200, 404), allowed.text  # 404: the unknown run of the cancel route


@pytest.mark.parametrize(("method", "path"), OPEN_ROUTES)
def test_health_metrics_and_the_openapi_document_need_no_token(
    served: RunningService, method: str, path: str
) -> None:
    with served.client(None) as client:
        assert client.request(method, path).status_code == 200


def test_without_auth_every_route_is_open(tmp_path: Path) -> None:
    with SampleApi(Inventory(size=30)) as api:
        document = url_document(f"sqlite:///{tmp_path / 'sync.db'}", {"items": pipeline_config(api.url)})
        with RunningService(document, tokens=Tokens(admin=None)) as served, served.client(None) as client:
            assert client.get("/api/pipelines").status_code == 200
            assert client.post("/api/pipelines/items/runs", params={"wait": "true"}).json()["created"] == 30


def test_no_token_shows_in_any_body_even_when_a_request_echoes_it(served: RunningService) -> None:
    with served.client(ADMIN) as client:
        echoed = [client.get(f"/api/pipelines/{ADMIN}"), client.get(f"/api/runs/{READER}")]
    for answer in echoed:
        assert answer.status_code == 404
        assert ADMIN not in answer.text and READER not in answer.text and "***" in answer.text


def test_serve_needs_a_long_enough_admin_token_and_no_auth_only_on_loopback() -> None:
    with pytest.raises(ConfigError, match="set BATCHSYNC_ADMIN_TOKEN"):
        tokens_for("127.0.0.1", no_auth=False, environ={})
    with pytest.raises(ConfigError, match="too short"):
        tokens_for("127.0.0.1", no_auth=False, environ={"BATCHSYNC_ADMIN_TOKEN": "short"})
    with pytest.raises(ConfigError, match="must differ"):
        tokens_for(
            "127.0.0.1",
            no_auth=False,
            environ={"BATCHSYNC_ADMIN_TOKEN": ADMIN, "BATCHSYNC_READ_TOKEN": ADMIN},
        )
    for host in ("0.0.0.0", "192.168.1.5", "::", "example.com"):
        with pytest.raises(ConfigError, match="--no-auth is refused"):
            tokens_for(host, no_auth=True, environ={})
    for host in ("127.0.0.1", "::1", "localhost"):
        assert tokens_for(host, no_auth=True, environ={"BATCHSYNC_ADMIN_TOKEN": ADMIN}) == Tokens(admin=None)
    both = tokens_for(
        "0.0.0.0", no_auth=False, environ={"BATCHSYNC_ADMIN_TOKEN": ADMIN, "BATCHSYNC_READ_TOKEN": READER}
    )
    assert both == Tokens(admin=ADMIN, read=READER)


def test_the_serve_command_refuses_to_start_without_a_token_with_one_message(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "batchsync.yml",
        url_document(f"sqlite:///{tmp_path / 'sync.db'}", {"items": pipeline_config("http://127.0.0.1:9")}),
    )
    runner = CliRunner(env={"COLUMNS": "200", "BATCHSYNC_ADMIN_TOKEN": ""})
    refused = runner.invoke(app, ["serve", "--config", str(config)])
    off_loopback = runner.invoke(app, ["serve", "--config", str(config), "--no-auth", "--host", "0.0.0.0"])
    assert refused.exit_code == 2 and "set BATCHSYNC_ADMIN_TOKEN" in refused.output
    assert off_loopback.exit_code == 2 and "--no-auth is refused on 0.0.0.0" in off_loopback.output
    assert not (tmp_path / "sync.db").exists(), "nothing opened, nothing written"
