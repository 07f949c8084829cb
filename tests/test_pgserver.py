"""The PostgreSQL test server (tests/pgserver.py) and its fixtures: what the PostgreSQL half of the suite
relies on before any sink test runs against it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pgserver import PostgresServer


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = sa.create_engine(postgres_url)
    yield engine
    engine.dispose()


def test_fresh_database_answers_select_1_over_tcp_on_loopback(postgres_url: str, engine: Engine) -> None:
    assert postgres_url.startswith("postgresql+psycopg://batchsync@127.0.0.1:")
    with engine.connect() as connection:
        assert connection.execute(sa.text("select 1")).scalar_one() == 1
        assert connection.execute(sa.text("select inet_server_addr()::text")).scalar_one() == "127.0.0.1/32"


def test_fresh_databases_do_not_see_each_others_tables(
    postgres_server: PostgresServer, engine: Engine
) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text("create table records (id integer primary key)"))
        connection.execute(sa.text("insert into records values (1)"))
    with postgres_server.fresh_database() as other_url:
        other = sa.create_engine(other_url)
        try:
            assert sa.inspect(other).get_table_names() == []
        finally:
            other.dispose()
    assert sa.inspect(engine).get_table_names() == ["records"]


def test_fresh_database_is_dropped_afterwards_even_with_connections_open(
    postgres_server: PostgresServer, engine: Engine
) -> None:
    with postgres_server.fresh_database() as url:
        name = sa.make_url(url).database
        forgotten = sa.create_engine(url)
        forgotten.connect().execute(sa.text("select 1"))  # a test that never closed its connection
    forgotten.dispose()
    with engine.connect() as connection:
        query = sa.text("select count(*) from pg_database where datname = :name")
        assert connection.execute(query, {"name": name}).scalar_one() == 0


def test_restart_drops_open_connections_and_the_server_comes_back(
    postgres_server: PostgresServer, engine: Engine
) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text("create table records (id integer primary key)"))
        connection.execute(sa.text("insert into records values (1), (2)"))
    held = engine.connect()
    held.execute(sa.text("select 1"))

    postgres_server.restart()

    with pytest.raises(sa.exc.OperationalError) as dropped:
        held.execute(sa.text("select 1"))
    assert dropped.value.connection_invalidated
    held.close()
    with engine.connect() as connection:
        assert connection.execute(sa.text("select count(*) from records")).scalar_one() == 2


def test_database_url_runs_on_both_dialects(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("create table records (id integer primary key)"))
            connection.execute(sa.text("insert into records values (1)"))
        with engine.connect() as connection:
            assert connection.execute(sa.text("select count(*) from records")).scalar_one() == 1
    finally:
        engine.dispose()
