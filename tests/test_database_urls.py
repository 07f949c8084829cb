"""Which database URLs `open_database` takes, and the one message for each it does not (docs/configuration.md,
'database')."""

from __future__ import annotations

import pytest

from batchsync.database import open_database
from batchsync.errors import ConfigError


def test_the_short_postgres_scheme_is_taken_as_postgresql(postgres_url: str) -> None:
    short = "postgres://" + postgres_url.split("://", 1)[1]
    engine = open_database(short)
    try:
        assert engine.dialect.name == "postgresql"
        assert engine.dialect.driver == "psycopg"
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgresql+psycopg2://user@127.0.0.1/db",
            "database: use a postgresql:// URL (psycopg 3), not postgresql+psycopg2://",
        ),
        (
            "mysql://user@127.0.0.1/db",
            "database: mysql is not supported; use a sqlite:/// or postgresql:// URL",
        ),
    ],
)
def test_another_driver_or_database_is_one_config_error(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_database(url)
    assert str(caught.value) == message
