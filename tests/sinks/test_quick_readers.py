"""The column readers' quick paths (a value already in its type's usual form skips the general converter)
give exactly what the general converters give, and content hashes stay what earlier versions stored.

A hash that changed between versions would make the first run after an upgrade count every row as
updated and rewrite it; a quick path that disagreed with its converter would store a different value
(or accept one the converter refuses) depending on how the API happened to spell it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchsync.config import DestinationConfig
from batchsync.errors import RecordError
from batchsync.models import JSONValue
from batchsync.sinks.mapping import (
    RowMapper,
    content_hash,
    to_datetime,
    to_decimal,
    to_float,
    to_integer,
    to_string,
)

CONVERTERS = {
    "string": to_string,
    "integer": to_integer,
    "float": to_float,
    "decimal": to_decimal,
    "datetime": to_datetime,
}


def mapper(column_type: str, path: str) -> RowMapper:
    return RowMapper(
        DestinationConfig.model_validate(
            {
                "table": "items",
                "primary_key": "id",
                "columns": {"id": {"path": "id"}, "value": {"path": path, "type": column_type}},
            }
        )
    )


MAPPERS = {
    (column_type, path): mapper(column_type, path)
    for column_type in CONVERTERS
    for path in ("raw", "nested.raw")  # a top-level key and a dotted path take different readers
}


def outcome(convert: Any, raw: JSONValue) -> tuple[str, Any]:
    try:
        value = convert(raw)
    except (ValueError, TypeError, ArithmeticError):
        return ("refused", None)
    return ("value", (type(value), value, value.tzinfo if isinstance(value, datetime) else None))


def mapped(column_type: str, path: str, raw: JSONValue) -> tuple[str, Any]:
    record: dict[str, JSONValue] = {"id": "k1"}
    if path == "raw":
        record["raw"] = raw
    else:
        record["nested"] = {"raw": raw}
    try:
        value = MAPPERS[(column_type, path)].map(record).values[1]
    except RecordError:
        return ("refused", None)
    return ("value", (type(value), value, value.tzinfo if isinstance(value, datetime) else None))


moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.none() | st.timezones()
)
iso_texts = st.builds(
    lambda moment, spec, pad: pad + moment.isoformat(timespec=spec) + pad,
    moments,
    st.sampled_from(["auto", "seconds", "milliseconds", "microseconds"]),
    st.sampled_from(["", " "]),
) | st.builds(lambda moment: moment.replace(tzinfo=None).isoformat() + "Z", moments)
raw_values = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.decimals(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | iso_texts
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
)


@given(
    raw=raw_values,
    column_type=st.sampled_from(sorted(CONVERTERS)),
    path=st.sampled_from(["raw", "nested.raw"]),
)
def test_a_column_reads_any_value_as_its_converter_does(raw: JSONValue, column_type: str, path: str) -> None:
    expected = ("value", None) if raw is None else outcome(CONVERTERS[column_type], raw)
    got = mapped(column_type, path, raw)
    if raw is None:
        assert got[0] == "value" and got[1][1] is None
    else:
        assert got == expected or (_both_nan(got, expected))


def _both_nan(got: tuple[str, Any], expected: tuple[str, Any]) -> bool:
    return got[0] == expected[0] == "value" and got[1][1] != got[1][1] and expected[1][1] != expected[1][1]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-01-01T12:30:00+00:00", datetime(2026, 1, 1, 12, 30, tzinfo=UTC)),
        ("2026-01-01T12:30:00Z", datetime(2026, 1, 1, 12, 30, tzinfo=UTC)),
        ("2026-01-01T14:30:00+02:00", datetime(2026, 1, 1, 12, 30, tzinfo=UTC)),
        ("2026-01-01T12:30:00", datetime(2026, 1, 1, 12, 30, tzinfo=UTC)),
        (" 2026-01-01T12:30:00Z ", datetime(2026, 1, 1, 12, 30, tzinfo=UTC)),
        ("2026-01-01T12:30:00-05:00", datetime(2026, 1, 1, 17, 30, tzinfo=UTC)),
    ],
)
def test_a_datetime_column_gives_the_moment_in_utc_whatever_the_spelling(
    raw: str, expected: datetime
) -> None:
    value = mapped("datetime", "raw", raw)[1][1]
    assert value == expected
    assert value.tzinfo is UTC


@pytest.mark.parametrize(
    ("values", "digest"),
    [
        (
            ["k1", "SKU", Decimal("12.50"), 3, True, datetime(2026, 1, 1, 12, 30, tzinfo=UTC),
             {"b": 1, "a": [1, Decimal("0.1")]}, None, 1.5, 2**70],
            "b2ad4debe4c24574bbc0beec1e72b185",
        ),
        (["k1", datetime(2026, 1, 1, 12, 30, 0, 123, tzinfo=UTC)], "b76a40c771e7c862af9b1850a4dfc9ba"),
    ],
)  # fmt: skip
def test_content_hashes_are_those_earlier_versions_stored(values: list[Any], digest: str) -> None:
    assert content_hash(values) == digest
