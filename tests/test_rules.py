"""Rules (`rules.py`), shared by fan-out eligibility and `record_filter`: gt/gte/lt/lte compare numbers with
numbers exactly, say so when a value is not a number, and the config refuses a rule that is not one test."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from batchsync.config import Rule, parse_config
from batchsync.errors import ConfigError
from batchsync.rules import first_failing


def rule(**fields: Any) -> Rule:
    return Rule.model_validate({"field": "n", **fields})


@pytest.mark.parametrize(
    ("test", "limit", "value", "passes"),
    [
        ("gt", 0, 1, True),
        ("gt", 0, 0, False),
        ("gte", 0, 0, True),
        ("gte", 0, -1, False),
        ("lt", 10, Decimal("9.99"), True),
        ("lt", 10, Decimal("10"), False),
        ("lte", 10, 10.0, True),
        ("lte", 10, Decimal("10.000000000000000000001"), False),
        ("gt", 0.1, Decimal("0.1"), False),  # exact: the YAML's 0.1 is the API's 0.1, not a float near it
        ("gte", 0.1, Decimal("0.1"), True),
        ("gt", 2**63, 2**64, True),
    ],
)
def test_an_order_rule_compares_numbers_exactly(test: str, limit: float, value: Any, passes: bool) -> None:
    failure = first_failing([rule(**{test: limit})], {"n": value})

    assert (failure is None) is passes
    if failure is not None:
        assert not failure.is_undecided and failure.reason.startswith("n is ")


@pytest.mark.parametrize("value", ["5", "many", True, [1], {"a": 1}, Decimal("NaN")])
def test_an_order_rule_cannot_judge_what_is_not_a_number_and_says_so(value: Any) -> None:
    failure = first_failing([rule(gt=0)], {"n": value})

    assert failure is not None and failure.is_undecided
    assert "not a number (must be > 0)" in failure.reason


def test_a_missing_or_null_field_fails_an_order_rule_without_being_in_question() -> None:
    for record in ({}, {"n": None}):
        failure = first_failing([rule(lte=3)], record)
        assert failure is not None and not failure.is_undecided and "null" in failure.reason


def test_the_first_failing_rule_gives_the_reason() -> None:
    rules = [
        Rule.model_validate({"field": "status", "equals": "active"}),
        Rule.model_validate({"field": "stock", "gt": 0, "reason": "out of stock"}),
    ]

    assert first_failing(rules, {"status": "active", "stock": 3}) is None
    failure = first_failing(rules, {"status": "active", "stock": 0})
    assert failure is not None and failure.reason == "out of stock"


@pytest.mark.parametrize(
    "fields",
    [{"gt": True}, {"gt": "5"}, {"gte": None}, {}, {"gt": 1, "lt": 5}, {"equals": 1, "gt": 0}],
)
def test_a_rule_with_no_number_or_not_exactly_one_test_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        rule(**fields)


def test_a_bad_record_filter_is_a_config_error_with_its_path() -> None:
    document = {
        "pipelines": {
            "items": {
                "source": {
                    "type": "rest",
                    "base_url": "https://api.example.com",
                    "record_filter": [{"field": "stock_on_hand", "gt": "zero"}],
                },
                "destination": {"table": "items", "primary_key": "id", "columns": {"id": {"path": "id"}}},
            }
        }
    }

    with pytest.raises(ConfigError) as raised:
        parse_config(document)

    assert raised.value.problems == [
        "pipelines.items.source.record_filter.0.gt: must be a number, not 'zero'"
    ]
