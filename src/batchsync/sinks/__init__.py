"""Sinks write mapped rows into the destination table and report what the database did."""

from batchsync.config import DestinationConfig
from batchsync.errors import ConfigError
from batchsync.sinks.base import Sink


def make_sink(dialect: str, destination: DestinationConfig) -> Sink:
    """The sink for the database the run writes to."""
    if dialect == "postgresql":
        from batchsync.sinks.postgres import PostgresSink

        return PostgresSink(destination)
    if destination.db_schema is not None:
        raise ConfigError("destination.schema applies to PostgreSQL; SQLite has one schema per file")
    from batchsync.sinks.sqlite import SqliteSink

    return SqliteSink(destination)
