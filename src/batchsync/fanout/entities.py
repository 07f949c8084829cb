"""Who a fan-out syncs, and whether: its entities (from a local table or an API list), each one's
eligible children, and the reason an entity is skipped. Reads only; decides, never syncs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, MetaData, Table, select

from batchsync.config import (
    ChildrenConfig,
    Config,
    EntitiesConfig,
    FanoutSourceConfig,
    PipelineConfig,
    RestSourceConfig,
    Rule,
)
from batchsync.database import database_errors
from batchsync.errors import ConfigError, DatabaseCallError
from batchsync.http.ratelimit import RateLimiter
from batchsync.http.wiring import open_http_client
from batchsync.models import JSONObject
from batchsync.paths import MISSING, DottedPath
from batchsync.redaction import Redactor
from batchsync.rules import first_failing
from batchsync.sinks.where import where_clause
from batchsync.sources.pull import PullSource


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """Whether an entity is synced, which of its children, or why it is skipped."""

    entity: JSONObject
    id: str
    label: str | None
    children: list[tuple[str, JSONObject]]
    skip_reason: str | None = None


def list_entities(
    engine: Engine,
    config: Config,
    name: str,
    pipeline: PipelineConfig,
    source: FanoutSourceConfig,
    rate_limiter: RateLimiter,
) -> list[JSONObject]:
    """Every entity of fan-out `name`, eligible or not; an API listing goes through `rate_limiter`,
    the fan-out's, which its child syncs share."""
    entities = source.entities
    if entities.table is not None:
        return _rows(engine, entities.table, entities.where, order_by=entities.id_field)
    return _entities_from_api(config, name, pipeline, entities, rate_limiter)


def _entities_from_api(
    config: Config,
    name: str,
    pipeline: PipelineConfig,
    entities: EntitiesConfig,
    rate_limiter: RateLimiter,
) -> list[JSONObject]:
    """The entities an API lists, every page of them, fetched under the fan-out pipeline's retry,
    timeout and rate limit (like any other request of the pipeline)."""
    assert entities.api is not None
    try:
        source = RestSourceConfig.model_validate({"type": "rest", **entities.api})
    except ValidationError as exc:
        raise ConfigError(f"pipelines.{name}.source.entities.api: {exc}") from exc
    redactor = Redactor(config.env_secrets | source.secret_values())
    with open_http_client(pipeline, source, redactor, rate_limiter) as client:
        pages = PullSource(source, client)
        records: list[JSONObject] = []
        cursor = pages.first_cursor()
        while True:
            page = pages.fetch_page(cursor)
            records.extend(page.records)
            cursor = pages.next_cursor(page, cursor)
            if cursor is None:
                return records


def decide(engine: Engine, source: FanoutSourceConfig, entity: JSONObject) -> Decision:
    """Whether `entity` is synced, and which of its children, by the fan-out's rules."""
    entities = source.entities
    entity_id = _field(entity, entities.id_field)
    label = _field(entity, entities.label_field) if entities.label_field else None
    failed = _first_failing(entities.rules, entity)
    if failed is not None:
        return Decision(entity, entity_id, label, [], skip_reason=failed)
    children_config = source.children
    if children_config is None:
        return Decision(entity, entity_id, label, [(entity_id, {})])
    children = _children(engine, children_config, entity_id)
    if not children:
        return Decision(entity, entity_id, label, [], skip_reason=f"no {children_config.table}")
    eligible, reasons = [], []
    for child in children:
        reason = _first_failing(children_config.rules, child)
        if reason is None:
            eligible.append((_field(child, children_config.id_field), child))
        else:
            reasons.append(reason)
    if not eligible:
        return Decision(
            entity, entity_id, label, [], skip_reason=f"no eligible {children_config.table}: {reasons[0]}"
        )
    return Decision(entity, entity_id, label, eligible)


def _children(engine: Engine, children: ChildrenConfig, entity_id: str) -> list[JSONObject]:
    rows = _rows(engine, children.table, children.where, order_by=children.id_field)
    return [row for row in rows if str(row.get(children.entity_column)) == entity_id]


def _rows(engine: Engine, name: str, where: dict[str, Any], *, order_by: str) -> list[JSONObject]:
    try:
        with database_errors():  # a missing table is reflection's own error, not the database's
            table = Table(name, MetaData(), autoload_with=engine)
    except DatabaseCallError as exc:
        raise ConfigError(f"table {name} cannot be read: {exc.reason}") from exc
    if order_by not in table.c:
        raise ConfigError(f"table {name} has no column {order_by!r}")
    query = select(table).where(where_clause(table, where)).order_by(table.c[order_by])
    with engine.connect() as connection:
        return [
            {str(key): value for key, value in row.items()} for row in connection.execute(query).mappings()
        ]


def _field(record: JSONObject, path: str | None) -> str:
    value = DottedPath.parse(path).get(record) if path else MISSING
    if value is MISSING or value is None:
        raise ConfigError(f"an entity has no {path!r} field")
    return str(value)


def _first_failing(rules: list[Rule], record: JSONObject) -> str | None:
    """The skip reason of the first rule the record fails, or None when it passes them all."""
    failure = first_failing(rules, record)
    return None if failure is None else failure.reason
