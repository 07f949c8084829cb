"""DottedPath: the paths config uses to name places in API answers and records."""

from __future__ import annotations

import pytest

from batchsync.models import JSONValue
from batchsync.paths import MISSING, DottedPath

ANSWER = {
    "items": [{"id": "a", "tags": ["x", "y"]}, {"id": "b", "tags": []}],
    "page_context": {"page": 2, "has_more_page": False, "note": None},
    "by_position": {"0": "zero", "1": "one"},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("page_context.has_more_page", False),
        ("page_context.page", 2),
        ("items.0.id", "a"),
        ("items.1.id", "b"),
        ("items.0.tags.1", "y"),
        ("by_position.1", "one"),
        ("$.page_context.page", 2),
    ],
)
def test_get_follows_keys_and_list_indexes(text: str, expected: JSONValue) -> None:
    assert DottedPath.parse(text).get(ANSWER) == expected


@pytest.mark.parametrize("text", ["$", ""])
def test_dollar_and_empty_mean_the_whole_value(text: str) -> None:
    path = DottedPath.parse(text)
    assert path.get(ANSWER) is ANSWER
    assert path.get([1, 2]) == [1, 2]
    assert str(path) == "$"


@pytest.mark.parametrize(
    "text",
    ["nope", "page_context.nope", "items.2.id", "items.0.tags.5", "items.id", "page_context.page.value",
     "items.0.id.0", "by_position.2", "items.-1"],
)  # fmt: skip
def test_get_is_missing_when_any_step_leads_nowhere(text: str) -> None:
    assert DottedPath.parse(text).get(ANSWER) is MISSING


def test_a_present_null_is_none_not_missing() -> None:
    assert DottedPath.parse("page_context.note").get(ANSWER) is None


def test_get_on_a_scalar_is_missing_for_any_step() -> None:
    assert DottedPath.parse("a").get("text") is MISSING
    assert DottedPath.parse("0").get("text") is MISSING
    assert DottedPath.parse("a").get(None) is MISSING


def test_a_key_of_digits_with_a_leading_zero_is_found() -> None:
    assert DottedPath.parse("postcodes.0401").get({"postcodes": {"0401": "Oslo"}}) == "Oslo"


def test_missing_is_a_falsy_singleton_distinct_from_none() -> None:
    assert not MISSING
    assert MISSING is not None
    assert type(MISSING)() is MISSING
    assert repr(MISSING) == "MISSING"


@pytest.mark.parametrize("text", ["a..b", ".a", "a.", "$..a"])
def test_parse_refuses_empty_segments(text: str) -> None:
    with pytest.raises(ValueError, match="empty segment"):
        DottedPath.parse(text)


def test_a_path_prints_as_written_and_compares_by_value() -> None:
    assert str(DottedPath.parse("$.items.0")) == "$.items.0"
    assert DottedPath.parse("items.0") == DottedPath.parse("items.0")
    assert DottedPath.parse("items.0").get(ANSWER) == DottedPath.parse("$.items.0").get(ANSWER)
