"""Secrets never appear in logs, run records, dead letters, error messages or CLI output."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from batchsync.cli import app
from fakeapi import OAuth2Auth, SampleApi
from syncsupport import config_document, pipeline_config, write_config

CLIENT_SECRET = "cs-Zq81-client-secret"
REFRESH_TOKEN = "rt-Lm42-refresh-token"
QUERY_API_KEY = "qk-Pw77-query-key"
ENV_PASSWORD = "pw-Xy93-from-environment"


def everything_in(database: Path) -> str:
    with sqlite3.connect(database) as connection:
        return "\n".join(connection.iterdump())


@pytest.fixture
def secret_config(tmp_path: Path, api: SampleApi, database: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BS_TEST_SIGNING_PASSWORD", ENV_PASSWORD)
    api.settings.auth = OAuth2Auth("cid", CLIENT_SECRET, REFRESH_TOKEN, max_uses_per_token=3)
    pipeline = pipeline_config(
        api.url,
        params={"api_key": QUERY_API_KEY, "signature": "${BS_TEST_SIGNING_PASSWORD}"},
        auth={
            "type": "oauth2_refresh_token",
            "token_url": f"{api.url}/oauth/token",
            "client_id": "cid",
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN,
        },
    )
    pipeline["source"]["paginator"]["page_size"] = 100
    # One column that cannot convert, so dead letters and their messages are written too.
    pipeline["destination"]["columns"]["sku"] = {"path": "sku", "type": "integer"}
    return write_config(tmp_path / "secret.yaml", config_document(database, {"items": pipeline}))


def test_no_secret_appears_anywhere_a_user_or_operator_can_look(
    secret_config: Path, api: SampleApi, database: Path, tmp_path: Path
) -> None:
    runner = CliRunner(env={"COLUMNS": "250"})
    outputs = [
        runner.invoke(app, ["run", "items", "-c", str(secret_config), "--verbose"]).output,
        runner.invoke(app, ["run", "items", "-c", str(secret_config), "--log-format", "json", "-v"]).output,
        runner.invoke(app, ["run", "items", "-c", str(secret_config), "--json"]).output,
        runner.invoke(app, ["errors", "items", "-c", str(secret_config), "--json"]).output,
        runner.invoke(app, ["runs", "items", "-c", str(secret_config), "--json"]).output,
        runner.invoke(app, ["status", "items", "-c", str(secret_config), "--json"]).output,
    ]
    broken = secret_config.read_text().replace("/inventory/v1/items", "/inventory/v1/nowhere")
    broken_config = tmp_path / "broken.yaml"
    broken_config.write_text(broken)
    outputs.append(runner.invoke(app, ["run", "items", "-c", str(broken_config), "-v"]).output)
    access_tokens = {r.authorization.split()[-1] for r in api.requests if r.authorization}

    seen = "\n".join(outputs) + everything_in(database)

    assert "GET http" in seen and "404" in seen and "cannot convert" in seen, "the scenario ran"
    assert len(access_tokens) >= 3, "tokens were refreshed mid-sync"
    for secret in [CLIENT_SECRET, REFRESH_TOKEN, QUERY_API_KEY, ENV_PASSWORD, *access_tokens]:
        assert secret not in seen, f"secret {secret[:6]}… leaked"
    assert all(r.query.get("api_key") == QUERY_API_KEY for r in api.requests if r.path.endswith("items"))
