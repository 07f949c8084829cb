"""Fixtures shared by the whole suite: the sample API on 127.0.0.1, a SQLite file per test, and a
throwaway PostgreSQL server with a fresh database per test (`database_url` runs a test on both)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakeapi import Inventory, SampleApi
from pgserver import PostgresServer, PostgresUnavailableError, find_binaries


@pytest.fixture
def inventory() -> Inventory:
    return Inventory(size=1_000)


@pytest.fixture
def api(inventory: Inventory) -> Iterator[SampleApi]:
    with SampleApi(inventory) as server:
        yield server


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "sync.db"


# -- PostgreSQL ----------------------------------------------------------------------------------------
# One throwaway cluster per test session (tests/pgserver.py), one fresh database per test. Without
# PostgreSQL on the machine these tests skip, unless BATCHSYNC_REQUIRE_POSTGRES=1 (CI sets it through
# scripts/test), where a missing server fails them: CI must never quietly drop the PostgreSQL half.

POSTGRES_MISSING = (
    "skipped: no PostgreSQL (install the postgresql package, or run BATCHSYNC_WITH_POSTGRES=1 ./scripts/test,"
    " which installs it)"
)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        binaries = find_binaries()
    except PostgresUnavailableError as exc:
        if os.environ.get("BATCHSYNC_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"BATCHSYNC_REQUIRE_POSTGRES=1 but {exc}", pytrace=False)
        pytest.skip(POSTGRES_MISSING)
    with PostgresServer(binaries) as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    with postgres_server.fresh_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sync.db'}"
    # Looked up only here, so a run that selects just the SQLite half never starts PostgreSQL.
    url: str = request.getfixturevalue("postgres_url")
    return url
