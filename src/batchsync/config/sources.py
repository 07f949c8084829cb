"""Config of the sources beyond a paged REST collection: `python`, `lookup` and `fanout`.

Filters on local tables (`where:`) are data, never SQL text: each becomes a bound-parameter expression.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from batchsync.config.base import Model, check_path
from batchsync.config.http import HttpEndpointConfig
from batchsync.config.names import check_name, optional
from batchsync.config.rules import Rule

_FUNCTION = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_TEMPLATE_FIELD = re.compile(r"\{(entity|child)\.([A-Za-z_][\w.]*)\}")

Scalar = str | int | float | bool | None
CONDITION_OPERATORS = ("eq", "ne", "lt", "le", "gt", "ge", "like", "ilike", "in", "not_in", "is_null")


class Condition(Model):
    """One test on a column: exactly one operator, e.g. `{ilike: "%Office%"}` or `{in: [a, b]}`."""

    eq: Scalar = None
    ne: Scalar = None
    lt: Scalar = None
    le: Scalar = None
    gt: Scalar = None
    ge: Scalar = None
    like: str | None = None
    ilike: str | None = None
    in_: list[Scalar] | None = Field(None, alias="in")
    not_in: list[Scalar] | None = None
    is_null: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_operator(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return {"eq": data}  # `status: active` is short for `status: {eq: active}`
        unknown = set(data) - set(CONDITION_OPERATORS)
        if unknown:
            raise ValueError(
                f"unknown operator {sorted(unknown)[0]!r}; use one of {list(CONDITION_OPERATORS)}"
            )
        if len(data) != 1:
            raise ValueError(f"give exactly one operator, one of {list(CONDITION_OPERATORS)}")
        return data

    @property
    def operator(self) -> tuple[str, Any]:
        for name in CONDITION_OPERATORS:
            field = "in_" if name == "in" else name
            if field in self.model_fields_set:
                return name, getattr(self, field)
        raise AssertionError("validated to hold one operator")


Where = dict[str, Condition]


def _check_columns(where: Where) -> Where:
    for column in where:
        try:
            check_name(column)
        except ValueError as exc:
            raise ValueError(f"column in where: {exc}") from None
    return where


class PythonSourceConfig(Model):
    """`function: package.module:callable`, called as `callable(cursor, **options)`; it yields records or
    `batchsync.SourcePage`s."""

    type: Literal["python"]
    function: str
    options: dict[str, Any] = Field(default_factory=dict)
    page_size: PositiveInt = 1000

    # The questions every source answers (see RestSourceConfig).
    pass_unit: ClassVar[str] = "records"
    has_one_collection: ClassVar[bool] = True

    def refreshed_key(self) -> tuple[str, str] | None:
        return None

    def describe(self) -> tuple[str, str]:
        return self.function, "python"

    def as_fanout(self) -> FanoutSourceConfig | None:
        return None

    def secret_values(self) -> set[str]:
        """None: the function's options are the user's code's business."""
        return set()

    @field_validator("function")
    @classmethod
    def _function_reference(cls, function: str) -> str:
        if not _FUNCTION.match(function):
            raise ValueError("must look like package.module:callable")
        return function


class KeysConfig(Model):
    table: str
    column: str
    where: Where = Field(default_factory=dict)

    _where = field_validator("where")(_check_columns)
    _names = field_validator("table", "column")(check_name)


class SendKeysAsConfig(Model):
    """`{query_param: keys, separator: ","}` (GET) or `{json_body: keys}` (POST `{"keys": [...]}`)."""

    query_param: str | None = None
    separator: str = ","
    json_body: str | None = None

    @model_validator(mode="after")
    def _one_way(self) -> SendKeysAsConfig:
        if (self.query_param is None) == (self.json_body is None):
            raise ValueError("set exactly one of query_param or json_body")
        return self


class LookupSourceConfig(HttpEndpointConfig):
    type: Literal["lookup"]
    keys: KeysConfig
    batch_size: PositiveInt = 50
    send_keys_as: SendKeysAsConfig
    match_on: str
    records_path: str | None = None
    shard_size: PositiveInt = 10_000
    """Keys per unit of work when the lookup runs on Celery workers (`execution: {backend: celery}`)."""

    _paths = field_validator("match_on", "records_path")(check_path)

    # The questions every source answers (see RestSourceConfig).
    pass_unit: ClassVar[str] = "records"
    has_one_collection: ClassVar[bool] = False

    def refreshed_key(self) -> tuple[str, str] | None:
        """A lookup refreshes rows in place: those of keys.table, by keys.column."""
        return self.keys.table, self.keys.column

    def describe(self) -> tuple[str, str]:
        return self.base_url + self.path, f"lookup of {self.keys.table}.{self.keys.column}"

    def as_fanout(self) -> FanoutSourceConfig | None:
        return None


class EntitiesConfig(Model):
    """Where the accounts come from: a local table (with a where), or an API list."""

    table: str | None = None
    where: Where = Field(default_factory=dict)
    api: dict[str, Any] | None = None
    """A `rest` source (type may be omitted) listing the entities, e.g. GET /accounts."""
    id_field: str = "id"
    label_field: str | None = None
    rules: list[Rule] = Field(default_factory=list)

    _where = field_validator("where")(_check_columns)
    _table = field_validator("table")(optional(check_name))

    @model_validator(mode="after")
    def _one_origin(self) -> EntitiesConfig:
        if (self.table is None) == (self.api is None):
            raise ValueError("set exactly one of table or api")
        return self


class ChildrenConfig(Model):
    """Each entity's children (e.g. a user's providers), read from a local table."""

    table: str
    entity_column: str
    """The column holding the entity's id (a foreign key)."""
    id_field: str = "id"
    where: Where = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)

    _where = field_validator("where")(_check_columns)
    _names = field_validator("table", "entity_column")(check_name)


class FanoutSourceConfig(Model):
    """One child sync per eligible entity (and per eligible child of it), sequential or bounded-parallel."""

    type: Literal["fanout"]
    entities: EntitiesConfig
    children: ChildrenConfig | None = None
    child_source: dict[str, Any]
    """A `rest` source whose strings may use {entity.FIELD} and {child.FIELD}."""
    concurrency: PositiveInt = 1

    # The questions every source answers (see RestSourceConfig).
    pass_unit: ClassVar[str] = "entities"
    has_one_collection: ClassVar[bool] = False

    def refreshed_key(self) -> tuple[str, str] | None:
        return None

    def describe(self) -> tuple[str, str]:
        return f"entities from {self.entities.table or 'an API list'}", "fan-out"

    def as_fanout(self) -> FanoutSourceConfig | None:
        return self

    def secret_values(self) -> set[str]:
        """None of its own: each child sync's source is rendered, and redacted, when it runs."""
        return set()

    @field_validator("child_source")
    @classmethod
    def _child_is_rest(cls, child: dict[str, Any]) -> dict[str, Any]:
        from batchsync.config.http import RestSourceConfig

        RestSourceConfig.model_validate(render_template({"type": "rest", **child}, _PLACEHOLDERS))
        return child


class _Placeholders(dict[str, Any]):
    """Stand-in values for validating a child source before any entity exists."""

    def __missing__(self, key: str) -> str:
        return "https://placeholder.invalid" if "url" in key else "placeholder"


_PLACEHOLDERS: dict[str, Any] = {"entity": _Placeholders(), "child": _Placeholders()}


def render_template(value: Any, fields: dict[str, Any]) -> Any:
    """Replace {entity.X} and {child.X} in every string of a config value (nested dicts and lists too)."""
    if isinstance(value, dict):
        return {key: render_template(item, fields) for key, item in value.items()}
    if isinstance(value, list):
        return [render_template(item, fields) for item in value]
    if isinstance(value, str) and "{" in value:

        def substitute(match: re.Match[str]) -> str:
            scope = fields.get(match.group(1))
            if scope is None:
                scope = {}
            found = scope.get(match.group(2)) if isinstance(scope, dict) else None
            if found is None and isinstance(scope, _Placeholders):
                found = scope[match.group(2)]
            if found is None:
                raise ValueError(f"{match.group(0)} has no value")
            return str(found)

        return _TEMPLATE_FIELD.sub(substitute, value)
    return value
