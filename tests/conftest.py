"""Fixtures shared by the whole suite: the sample API on 127.0.0.1, a SQLite file per test, and a
throwaway PostgreSQL server with a fresh database per test (`database_url` runs a test on both)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from distsupport import Workers
from fakeapi import Inventory, SampleApi
from pgserver import PostgresServer, PostgresUnavailableError, find_binaries
from redisserver import RedisUnavailableError, redis_server


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


# -- Redis and Celery workers (tests/distributed) ------------------------------------------------------
# One throwaway redis-server per session (tests/redisserver.py), emptied for each test. Without it these
# tests skip, unless BATCHSYNC_REQUIRE_REDIS=1 (CI, through scripts/test), where a missing one fails them.


@pytest.fixture(scope="session")
def redis_session_url() -> Iterator[str]:
    try:
        with redis_server() as url:
            yield url
    except RedisUnavailableError as exc:
        if os.environ.get("BATCHSYNC_REQUIRE_REDIS") == "1":
            pytest.fail(f"BATCHSYNC_REQUIRE_REDIS=1 but {exc}", pytrace=False)
        pytest.skip(f"skipped: {exc}")


@pytest.fixture
def redis_url(redis_session_url: str) -> str:
    redis.Redis.from_url(redis_session_url).flushall()
    return redis_session_url


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    group = Workers(tmp_path)
    try:
        yield group
    finally:
        group.stop_all()
