"""Evaluating rules (config/rules.py) against one record: which rule it fails first, and why.

Fan-out eligibility (an entity or a child that fails a rule is skipped with the reason) and a rest
source's `record_filter` (a record that fails a rule is left out and counted as filtered) share this
module, so a rule means the same in both. Records are API answers or rows of a local table: numbers may
be ints, floats or exact Decimals, booleans may be text ("yes", "on": see truthy.py) or 0/1.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from batchsync.config import Rule
from batchsync.models import JSONObject, JSONValue
from batchsync.paths import MISSING, DottedPath
from batchsync.truthy import truth_of_text

_PREVIEW_CHARS = 60
_ORDER_SYMBOLS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


@dataclass(frozen=True, slots=True)
class RuleFailure:
    """Why a record fails a rule. `is_undecided` when the rule cannot judge the value at all (text where
    a number is compared): the record is then in question, not merely left out."""

    reason: str
    is_undecided: bool = False


def first_failing(rules: Sequence[Rule], record: JSONObject) -> RuleFailure | None:
    """The failure of the first rule `record` does not meet, or None when it meets them all. A field the
    record lacks reads as null: it equals nothing but null, is not true, and is no number."""
    for rule in rules:
        failure = _check(rule, record)
        if failure is not None:
            return failure
    return None


def _check(rule: Rule, record: JSONObject) -> RuleFailure | None:
    value = _path(rule.field).get(record)
    value = None if value is MISSING else value
    test = rule.test
    if test in _ORDER_SYMBOLS:
        return _check_order(rule, test, value)
    if test == "equals":
        passed, wanted = _same(value, rule.equals), f"must be {rule.equals!r}"
    elif test == "not_equals":
        passed, wanted = not _same(value, rule.not_equals), f"must not be {rule.not_equals!r}"
    elif test == "in":
        passed = any(_same(value, option) for option in rule.in_ or [])
        wanted = f"must be one of {rule.in_}"
    else:
        passed, wanted = is_true(value) == rule.is_true, f"must be {'true' if rule.is_true else 'false'}"
    if passed:
        return None
    shown = str(value) if isinstance(value, Decimal) else repr(value)  # 0.2, not Decimal('0.2')
    return RuleFailure(rule.reason or f"{rule.field} is {shown} ({wanted})")


def _same(value: JSONValue, wanted: JSONValue) -> bool:
    """Equality as a user means it: numbers by their exact value (an API's 0.1, read as a Decimal, equals
    the YAML's 0.1; a 20-digit id is never rounded), everything else as Python compares it."""
    number, wanted_number = _as_decimal(value), _as_decimal(wanted)
    if number is not None and wanted_number is not None:
        return number == wanted_number
    return bool(value == wanted)


@functools.lru_cache(maxsize=256)
def _path(field: str) -> DottedPath:
    """Parsed once per field: a record filter reads it for every record."""
    return DottedPath.parse(field)


def _check_order(rule: Rule, test: str, value: JSONValue) -> RuleFailure | None:
    """gt, gte, lt, lte: numbers compared exactly, as Decimals (the YAML's 0.1 as written, not as the
    nearest float). Null is no number and fails; text, booleans and lists cannot be judged."""
    limit: int | float = getattr(rule, test)
    wanted = f"must be {_ORDER_SYMBOLS[test]} {limit}"
    if value is None:
        return RuleFailure(rule.reason or f"{rule.field} is null ({wanted})")
    number = _as_decimal(value)
    if number is None:
        shown = _preview(value)
        shown = f"the text {shown}" if isinstance(value, str) else shown
        return RuleFailure(f"{rule.field} is {shown}, not a number ({wanted})", is_undecided=True)
    bound = Decimal(str(limit))
    passed = {
        "gt": number > bound,
        "gte": number >= bound,
        "lt": number < bound,
        "lte": number <= bound,
    }[test]
    return None if passed else RuleFailure(rule.reason or f"{rule.field} is {number} ({wanted})")


def _preview(value: Any) -> str:
    """A value for a message, cut short: an API may send a megabyte of text where a number belongs."""
    text = repr(value)
    return text if len(text) <= _PREVIEW_CHARS else text[: _PREVIEW_CHARS - 1] + "…"


def _as_decimal(value: Any) -> Decimal | None:
    """A JSON or SQL number as a Decimal; None for anything else (bool is not a number here, nor NaN)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        number = Decimal(str(value))
    elif isinstance(value, Decimal):
        number = value
    else:
        return None
    return None if number.is_nan() else number


def is_true(value: JSONValue) -> bool:
    """Whether an `is_true` rule sees the value as true: text by truthy.py's words, anything else (JSON
    booleans, a table's 0/1) by Python's truth."""
    if isinstance(value, str):
        return truth_of_text(value) is True
    return bool(value)
