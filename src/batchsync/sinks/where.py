"""`where:` filters on local tables → SQLAlchemy expressions with bound parameters, never SQL text.

Used to pick the keys a lookup refreshes and the entities a fan-out syncs; the CLI's `--filter` adds
conditions in a compact form (`status=active`, `prd~Office`).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, TableClause, and_, true

from batchsync.config import Condition, Where
from batchsync.errors import ConfigError

_CLI_FILTER = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(!=|>=|<=|=|~|>|<)\s*(.*)$")
_CLI_OPERATORS = {"=": "eq", "!=": "ne", ">": "gt", ">=": "ge", "<": "lt", "<=": "le", "~": "ilike"}


def where_clause(table: TableClause, where: Where) -> ColumnElement[bool]:
    """AND of every condition; raises ConfigError for a column the table does not have."""
    parts = []
    for name, condition in where.items():
        if name not in table.c:
            raise ConfigError(f"where: table {table.name} has no column {name!r}")
        parts.append(_condition(table.c[name], condition))
    return and_(true(), *parts)


def _condition(column: Any, condition: Condition) -> ColumnElement[bool]:
    operator, value = condition.operator
    match operator:
        case "eq":
            return column.is_(None) if value is None else column == value  # type: ignore[no-any-return]
        case "ne":
            return column.is_not(None) if value is None else column != value  # type: ignore[no-any-return]
        case "lt":
            return column < value  # type: ignore[no-any-return]
        case "le":
            return column <= value  # type: ignore[no-any-return]
        case "gt":
            return column > value  # type: ignore[no-any-return]
        case "ge":
            return column >= value  # type: ignore[no-any-return]
        case "like":
            return column.like(value)  # type: ignore[no-any-return]
        case "ilike":
            return column.ilike(value)  # type: ignore[no-any-return]
        case "in":
            return column.in_(value)  # type: ignore[no-any-return]
        case "not_in":
            return column.not_in(value)  # type: ignore[no-any-return]
        case "is_null":
            return column.is_(None) if value else column.is_not(None)  # type: ignore[no-any-return]
    raise AssertionError(f"unhandled operator {operator}")


def parse_cli_filter(text: str) -> tuple[str, Condition]:
    """`status=active`, `count>=3`, `prd~Office` (contains, any case) → (column, condition)."""
    match = _CLI_FILTER.match(text.strip())
    if not match:
        raise ConfigError(f"--filter {text!r}: use COLUMN=VALUE, COLUMN!=VALUE, COLUMN~TEXT, COLUMN>VALUE, …")
    column, symbol, value = match.groups()
    operator = _CLI_OPERATORS[symbol]
    if operator == "ilike" and "%" not in value:
        value = f"%{value}%"
    return column, Condition.model_validate({operator: value})
