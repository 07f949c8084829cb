"""Config of a pipeline's destination, the pipeline itself, and the whole file."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from batchsync.config.base import Model, check_path
from batchsync.config.execution import ExecutionConfig
from batchsync.config.http import (
    RateLimitConfig,
    RestSourceConfig,
    RetryConfig,
    TimeoutConfig,
)
from batchsync.config.names import (
    check_column_names,
    check_name,
    check_schema_name,
    check_table_name,
    is_plain_identifier,
    optional,
)
from batchsync.config.notify import NotifyConfig
from batchsync.config.schedule import ScheduleConfig
from batchsync.config.sources import FanoutSourceConfig, LookupSourceConfig, PythonSourceConfig
from batchsync.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///batchsync.db"


ColumnType = Literal["string", "integer", "float", "decimal", "boolean", "datetime", "json"]


class ColumnConfig(Model):
    path: str
    type: ColumnType = "string"
    true_values: list[str] | None = None
    false_values: list[str] | None = None

    _paths = field_validator("path")(check_path)

    @model_validator(mode="after")
    def _boolean_values_only_on_booleans(self) -> ColumnConfig:
        if self.type != "boolean" and (self.true_values or self.false_values):
            raise ValueError("true_values/false_values apply to boolean columns only")
        return self


class DestinationConfig(Model):
    table: str
    primary_key: str
    columns: dict[str, ColumnConfig] = Field(min_length=1)
    db_schema: str | None = Field(None, alias="schema")
    """`schema:` in the file. PostgreSQL: the destination table's schema (default: the search_path)."""
    on_missing: Literal["keep", "soft_delete", "delete"] = "keep"
    """What a complete full pass does with rows it did not see: keep them, set _batchsync_deleted_at,
    or delete them."""

    # Names reach the database: see config/names.py for the rule and why.
    _table = field_validator("table")(check_table_name)
    _primary_key = field_validator("primary_key")(check_name)
    _schema = field_validator("db_schema")(optional(check_schema_name))

    @field_validator("columns")
    @classmethod
    def _column_names(cls, columns: dict[str, ColumnConfig]) -> dict[str, ColumnConfig]:
        check_column_names(columns)
        return columns


SourceConfig = Annotated[
    RestSourceConfig | PythonSourceConfig | LookupSourceConfig | FanoutSourceConfig,
    Field(discriminator="type"),
]


DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 64


class PipelineConfig(Model):
    source: SourceConfig
    destination: DestinationConfig
    db_batch_size: PositiveInt = 1000
    concurrency: int = Field(DEFAULT_CONCURRENCY, ge=1, le=MAX_CONCURRENCY)
    """Requests in flight at once for this pipeline: pages of an offset or page-number pull, lookup
    batches. Rows are still committed in order, so a checkpoint never skips a page."""
    writer_process: Literal["auto", "always", "never"] = "auto"
    """Whether a pull's batches are mapped and written by a second process while this one fetches:
    `auto` once a pass is past its first pages, on a machine with more than one CPU."""
    retry: RetryConfig = Field(default_factory=RetryConfig)
    timeout: TimeoutConfig = Field(default_factory=TimeoutConfig)
    rate_limit: RateLimitConfig | None = None
    on_record_error: Literal["dead_letter", "fail"] = "dead_letter"
    on_drift: Literal["warn", "repass"] = "warn"
    lease_seconds: float = Field(60.0, gt=0)
    """How long a run's lease outlives its last heartbeat: when a killed run's pipeline may run again."""
    schedule: ScheduleConfig | None = None
    """When `batchsync serve` runs the pipeline by itself (trigger `scheduled`)."""
    notify: NotifyConfig | None = None
    """Where `batchsync serve` reports the pipeline's ended runs; over the top-level `notify`."""
    execution: ExecutionConfig | None = None
    """Where the pipeline's work runs (config/execution.py); over the top-level `execution`."""

    @model_validator(mode="after")
    def _key_fits_the_source(self) -> PipelineConfig:
        destination = self.destination
        refreshed = self.source.refreshed_key()
        if refreshed is not None:
            table, key = refreshed
            if (destination.table, destination.primary_key) != refreshed:
                raise ValueError(
                    "a lookup refreshes rows in place: destination.table and primary_key must be "
                    f"keys.table and keys.column ({table}.{key})"
                )
            if destination.primary_key.lower() in {name.lower() for name in destination.columns}:
                raise ValueError(
                    f"primary_key {destination.primary_key!r} is the lookup key, not a column to set"
                )
        if destination.on_missing != "keep" and not self.source.has_one_collection:
            raise ValueError(
                f"destination.on_missing: {destination.on_missing} needs a complete pass over one "
                f"collection; a {self.source.type} pipeline has none (leave it at keep)"
            )
        if refreshed is None and destination.primary_key not in destination.columns:
            raise ValueError(
                f"destination.primary_key {destination.primary_key!r} must be one of destination.columns"
            )
        return self

    def secret_values(self) -> set[str]:
        """Every value that must never be printed: credentials, secret-looking query params, and the
        webhook URL and signing secret."""
        secrets = self.source.secret_values() | (self.notify.secret_values() if self.notify else set())
        return secrets | (self.execution.secret_values() if self.execution else set())


class Config(Model):
    database: str = DEFAULT_DATABASE_URL
    state_schema: str | None = None
    """PostgreSQL: the schema for batchsync's own tables (created if missing; default: the search_path)."""
    pipelines: dict[str, PipelineConfig] = Field(default_factory=dict)
    notify: NotifyConfig | None = None
    """Where `batchsync serve` reports ended runs of every pipeline without a `notify` of its own."""
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    """Where pipelines without an `execution` of their own run (config/execution.py)."""
    env_secrets: frozenset[str] = Field(default=frozenset(), exclude=True)
    """Values that came from secret-looking environment variables; redacted everywhere."""
    unavailable: dict[str, list[str]] = Field(default_factory=dict, exclude=True)
    """Pipelines left out because environment variables they use are not set (name → problems)."""

    _state_schema = field_validator("state_schema")(optional(check_schema_name))

    @field_validator("pipelines")
    @classmethod
    def _pipeline_names(cls, pipelines: dict[str, PipelineConfig]) -> dict[str, PipelineConfig]:
        for name in pipelines:
            if not is_plain_identifier(name):
                raise ValueError(f"pipeline name {name!r} must be a plain identifier")
        return pipelines

    def pipeline(self, name: str) -> PipelineConfig:
        if name in self.unavailable:
            raise ConfigError(f"pipeline {name!r} cannot be used here", problems=self.unavailable[name])
        try:
            return self.pipelines[name]
        except KeyError:
            known = ", ".join(sorted(self.pipelines)) or "none"
            raise ConfigError(f"no pipeline named {name!r} in the config (pipelines: {known})") from None

    def execution_for(self, name: str) -> ExecutionConfig:
        """Where pipeline `name`'s work runs: its own `execution`, else the top-level one."""
        pipeline = self.pipelines.get(name)
        own = pipeline.execution if pipeline is not None else None
        return own or self.execution

    def notify_for(self, name: str) -> NotifyConfig | None:
        """Where pipeline `name`'s ended runs are reported: its own `notify`, else the top-level one."""
        pipeline = self.pipelines.get(name)
        return (pipeline.notify if pipeline is not None else None) or self.notify

    def secret_values(self, pipeline: str | None = None) -> set[str]:
        names = [pipeline] if pipeline else list(self.pipelines)
        secrets = set(self.env_secrets) | (self.notify.secret_values() if self.notify else set())
        secrets |= self.execution.secret_values()
        for name in names:
            if name in self.pipelines:
                secrets |= self.pipelines[name].secret_values()
        return secrets
