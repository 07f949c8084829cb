"""Config of a rule: one test on one field of a record, as fan-out eligibility and `record_filter` write it.

A rule is data (`{field: status, equals: active}`, `{field: stock_on_hand, gt: 0}`); `batchsync/rules.py`
evaluates it, the same way for a fan-out's entities and for the records a `record_filter` keeps.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from batchsync.config.base import Model, check_path

Scalar = str | int | float | bool | None

TESTS = ("equals", "not_equals", "in", "is_true", "gt", "gte", "lt", "lte")
_FIELDS = {"in": "in_"}


class Rule(Model):
    """One test on a field: exactly one of equals, not_equals, in, is_true, gt, gte, lt, lte.

    `gt`/`gte`/`lt`/`lte` compare numbers with numbers (exactly: the API's 0.1 is 0.1); a field that holds
    something else is not a number, and the rule says so rather than guessing.
    """

    field: str
    equals: Scalar = None
    not_equals: Scalar = None
    in_: list[Scalar] | None = Field(None, alias="in")
    is_true: bool | None = None
    gt: int | float | None = None
    gte: int | float | None = None
    lt: int | float | None = None
    lte: int | float | None = None
    reason: str | None = None
    """Shown for entities this rule skips (default: a sentence built from the rule)."""

    @field_validator("gt", "gte", "lt", "lte", mode="before")
    @classmethod
    def _a_number(cls, value: Any) -> Any:
        """A YAML number: a boolean, a quoted "5" or a null is refused rather than read as one."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a number, not {value!r}")
        return value

    @model_validator(mode="after")
    def _one_test(self) -> Rule:
        check_path(self.field)
        tests = self.model_fields_set & {_FIELDS.get(name, name) for name in TESTS}
        if len(tests) != 1:
            raise ValueError(f"give exactly one of {', '.join(TESTS)}")
        return self

    @property
    def test(self) -> str:
        """The test this rule makes, by its name in the config (`in`, not `in_`)."""
        return next(name for name in TESTS if _FIELDS.get(name, name) in self.model_fields_set)
