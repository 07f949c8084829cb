"""PostgreSQL's connect timeout (database.py): a host that takes the TCP connection and never answers
fails a command within the timeout, in one readable line, instead of holding it for minutes; the default
(10 s) applies when the URL sets none, and the URL's `connect_timeout` (or libpq's PGCONNECT_TIMEOUT)
wins over it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest
from sqlalchemy import make_url
from typer.testing import CliRunner

from batchsync.cli import app
from batchsync.database import open_database
from batchsync.errors import SinkError
from fakeapi import SampleApi
from syncsupport import pipeline_config, url_document, write_config

runner = CliRunner(env={"COLUMNS": "1000"})  # wide enough that the one message is one line

# psycopg waits at least 2 s whatever connect_timeout says (as libpq does); the rest is slack for a
# loaded machine. Without a timeout, psycopg would wait 130 s.
WITHIN_SECONDS = 8


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte: a database host
    whose port answers but whose server does not (hung, or a proxy with nothing behind it). It keeps
    each connection open, so the client cannot learn anything from the socket closing."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # the listener was closed: the test is over
                return
            self._accepted.append(connection)

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._listener.close()
        self._thread.join(timeout=5)
        for connection in self._accepted:
            connection.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    with SilentServer() as server:
        yield server


def silent_url(server: SilentServer, query: str = "?connect_timeout=1") -> str:
    return f"postgresql://batchsync@127.0.0.1:{server.port}/sync{query}"


def test_a_server_that_never_answers_fails_within_the_connect_timeout_in_words(
    silent_server: SilentServer,
) -> None:
    started = time.monotonic()
    with pytest.raises(SinkError) as refused:
        open_database(silent_url(silent_server), read_only=True)

    assert time.monotonic() - started < WITHIN_SECONDS
    message = str(refused.value)
    assert message.startswith(
        f"cannot open the database postgresql://batchsync@127.0.0.1:{silent_server.port}/sync"
        "?connect_timeout=1: the database server did not answer within the connect timeout"
    ), message
    assert "?connect_timeout=SECONDS in the URL, default 10" in message and "\n" not in message


@pytest.mark.parametrize("command", ["run", "status"])
def test_the_cli_on_a_server_that_never_answers_exits_2_with_one_line(
    command: str, silent_server: SilentServer, api: SampleApi, tmp_path: Path
) -> None:
    config_file = write_config(
        tmp_path / "c.yaml", url_document(silent_url(silent_server), {"items": pipeline_config(api.url)})
    )
    started = time.monotonic()

    result = runner.invoke(app, [command, "items", "-c", str(config_file)])

    assert time.monotonic() - started < WITHIN_SECONDS
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: cannot open the database postgresql://batchsync@127.0.0.1:")
    assert "the database server did not answer within the connect timeout" in lines[0]
    assert not api.requests, "nothing is fetched for a database that cannot be opened"


def connect_timeout_in_use(url: str) -> str | None:
    """The connect_timeout of the connection batchsync opens on `url`, as libpq reports it."""
    engine = open_database(url, read_only=True)
    try:
        with engine.connect() as connection:
            parameters = connection.connection.driver_connection.info.get_parameters()  # type: ignore[union-attr]
            return parameters.get("connect_timeout")
    finally:
        engine.dispose()


def with_query(url: str, **query: str) -> str:
    return make_url(url).update_query_dict(query).render_as_string(hide_password=False)


def test_the_default_connect_timeout_applies_when_the_url_sets_none(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    assert "connect_timeout" not in make_url(postgres_url).query

    assert connect_timeout_in_use(postgres_url) == "10"


def test_the_urls_connect_timeout_wins_over_the_default(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "7")

    assert connect_timeout_in_use(with_query(postgres_url, connect_timeout="3")) == "3"


def test_pgconnect_timeout_wins_over_the_default(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "7")

    assert connect_timeout_in_use(postgres_url) == "7"
