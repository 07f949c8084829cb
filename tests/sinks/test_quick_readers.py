"""The column readers' quick paths (a value already in its type's usual form skips the general converter)
give exactly what the general converters give, and content hashes stay what earlier versions stored.

A hash that changed between versions would make the first run after an upgrade count every row as
updated and rewrite it; a quick path that disagreed with its converter would store a different value
(or accept one the converter refuses) depending on how the API happened to spell it.

`RowMapper.map` reads a whole record with one function written for its destination
(`compile_row_reader`); the last tests check that function, for any mix of column types, paths and
values, against the general converters: the same values, the same content hash, the same error.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchsync import jsontext
from batchsync.config import DestinationConfig
from batchsync.errors import RecordError
from batchsync.models import JSONObject, JSONValue
from batchsync.paths import MISSING, DottedPath
from batchsync.sinks.mapping import (
    ColumnsMapper,
    MappedRow,
    RowMapper,
    content_hash,
    converter_for,
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


# --- a whole record, read by the destination's compiled reader -----------------------------------------

WORD_LISTS = [None, [], ["Active", " yes"], ["on"]]
rarely = st.integers(0, 15).map(lambda n: n == 7)  # not at an end of the range: Hypothesis tries those often
lone_surrogates = st.sampled_from(["\ud800", "a\udfff"])
USUAL = {  # each type's usual form: what the compiled reader takes without calling the converter
    "string": st.text(max_size=8),
    "integer": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(allow_nan=False, allow_infinity=False),
    "decimal": st.decimals(allow_nan=False, allow_infinity=False),
    "boolean": st.booleans() | st.sampled_from(["active", " ACTIVE ", "inactive", "on", "Yes", "no", "x"]),
    "datetime": iso_texts,
    "json": st.recursive(raw_values, lambda inner: st.lists(inner, max_size=2), max_leaves=4),
}
UNUSUAL: dict[str, list[JSONValue]] = {  # values not in a type's usual form, that it takes or refuses
    "string": [12, True, 1.5, Decimal("1.50"), "\ud800", "a\udfff", {"b": 1, "a": [Decimal("0.1")]}, [1]],
    "integer": [2**63, -(2**63) - 1, 3.0, 3.5, " 12 ", "1e3", "NaN", "x", True, Decimal("2"), Decimal("2.5")],
    "float": ["12.5", " 1e3 ", "NaN", "1e999", "x", False, 3, Decimal("0.1"), 2**70, float("nan")],
    "decimal": ["12.50", " -0 ", "1E+2", "NaN", "x", Decimal("NaN"), Decimal("-Infinity"), Decimal("sNaN"), 3,
                0.1, float("nan"), True],
    "boolean": [True, False, "true", "1", "0", "maybe", 1, 0.0, "", [True], " Active ", "ON", "no",
                "inactive"],
    "datetime": [0, 2**41, 1.5, Decimal("1.5"), True, [1], "2026-01-01", "2026-01-01T10:00:00-05:00",
                 " 2026-01-01T10:00:00Z ", "2026-01-01T10:00:00.5+00:00", "soon", "", float("inf")],
    "json": ["\ud800", {"deep": [2**70, Decimal("1.50")]}, {"a": "\ud800"}, [{"b": 1, "a": 2}], float("nan")],
}  # fmt: skip
OTHER = {kind: st.sampled_from(values) | raw_values for kind, values in UNUSUAL.items()}


@st.composite
def column_configs(draw: st.DrawFn, index: int) -> dict[str, Any]:
    """Column `c<index>` of any type, at a top-level key (mostly), a dotted path, a list index or `$`."""
    column_type = draw(st.sampled_from(sorted(USUAL)))
    path = draw(st.sampled_from([f"k{index}"] * 4 + [f"n{index}.k", f"l{index}.0", "$"]))
    column: dict[str, Any] = {"path": path, "type": column_type}
    if column_type == "boolean":
        column["true_values"] = draw(st.sampled_from(WORD_LISTS))
        column["false_values"] = draw(st.sampled_from(WORD_LISTS))
    return column


@st.composite
def place(draw: st.DrawFn, record: dict[str, JSONValue], column: dict[str, Any], usual: bool) -> None:
    """Puts a value for `column` where its path leads in `record` (in its type's usual form, or not),
    or a null, or nothing at all, or a number in the way of a dotted path."""
    path, kind = column["path"], column["type"]
    if path == "$" or draw(rarely):
        return  # missing
    raw = None if draw(rarely) else draw(USUAL[kind] if usual else OTHER[kind])
    head, _, rest = path.partition(".")
    if not rest:
        record[head] = raw
    else:
        blocked = draw(rarely)  # a path through a number leads nowhere
        record[head] = 7 if blocked else ({"k": raw} if rest == "k" else [raw])


@st.composite
def destinations_and_records(draw: st.DrawFn) -> tuple[DestinationConfig, JSONObject]:
    """A destination of 1-8 columns and a record for it: half the time one column's value is not in
    its type's usual form (the others always are, so most records map)."""
    count = draw(st.integers(1, 8))
    columns = {f"c{i}": draw(column_configs(i)) for i in range(count)}
    destination = DestinationConfig.model_validate(
        {"table": "items", "primary_key": draw(st.sampled_from(sorted(columns))), "columns": columns}
    )
    unusual = draw(st.integers(-count, count - 1))
    record: dict[str, JSONValue] = {}
    for i, column in enumerate(columns.values()):
        draw(place(record, column, usual=i != unusual))
    return destination, record


def expected_row(destination: DestinationConfig, record: JSONObject) -> tuple[Any, ...]:
    """What mapping `record` gives by the general converters: the row's key, values and hash, or the
    error (its message, key and column; the words of a conversion error are `ColumnsMapper`'s)."""
    names = list(destination.columns)
    key_raw = DottedPath.parse(destination.columns[destination.primary_key].path).get(record)
    key_text = None if key_raw is MISSING or key_raw is None else str(key_raw)
    values = []
    for name, column in destination.columns.items():
        raw = DottedPath.parse(column.path).get(record)
        try:
            values.append(None if raw is MISSING or raw is None else converter_for(column)(raw))
        except (ValueError, TypeError, ArithmeticError):
            with pytest.raises(RecordError) as refused:
                ColumnsMapper({name: column}).values(record)
            return ("error", f"record {key_text or '(no key)'}: {refused.value}", key_text, name)
    key = values[names.index(destination.primary_key)]
    if key is None or key == "":
        path = destination.columns[destination.primary_key].path
        return ("error", f"record has no primary key at {path}", None, destination.primary_key)
    try:
        digest = content_hash(values)
    except jsontext.UnwritableJsonError:
        for name, value in zip(names, values, strict=True):
            with contextlib.suppress(jsontext.UnwritableJsonError):
                content_hash([value])
                continue
            with pytest.raises(jsontext.UnwritableJsonError) as unwritable:
                content_hash([value])
            return (
                "error",
                f"record {key_text or '(no key)'}: column {name!r}: {unwritable.value}",
                key_text,
                name,
            )
        raise
    return ("row", f"{type(key).__name__}:{key!r}", repr(values), digest)


def mapped_row(mapper: RowMapper, record: JSONObject) -> tuple[Any, ...]:
    """What `mapper.map(record)` gives, in `expected_row`'s terms."""
    try:
        row = mapper.map(record)
    except RecordError as exc:
        return ("error", str(exc), exc.key, exc.column)
    assert row.record is record
    return ("row", f"{type(row.key).__name__}:{row.key!r}", repr(list(row.values)), row.content_hash)


@settings(max_examples=500)
@given(destinations_and_records())
def test_a_record_maps_as_its_columns_converters_say(case: tuple[DestinationConfig, JSONObject]) -> None:
    """Any columns, any values (in their usual form or not, None, missing, behind a non-object, past
    64 bits, unwritable): the compiled reader gives the values, hash and error the converters give.
    Values are compared by repr: type, digits, time zone and NaN all count."""
    destination, record = case
    assert mapped_row(RowMapper(destination), record) == expected_row(destination, record)


@pytest.mark.parametrize("path", ["k1", "n1.k", "l1.0"])
@pytest.mark.parametrize("column_type", sorted(UNUSUAL))
def test_every_unusual_value_maps_as_its_converter_says(column_type: str, path: str) -> None:
    """Each value of `UNUSUAL`, for each boolean option, between columns in their usual forms."""
    options = [{}]
    if column_type == "boolean":
        options = [{"true_values": t, "false_values": f} for t in WORD_LISTS for f in WORD_LISTS]
    for option in options:
        destination = DestinationConfig.model_validate(
            {
                "table": "items",
                "primary_key": "id",
                "columns": {
                    "id": {"path": "id"},
                    "value": {"path": path, "type": column_type, **option},
                    "price": {"path": "price", "type": "decimal"},
                    "at": {"path": "at", "type": "datetime"},
                },
            }
        )
        mapper = RowMapper(destination)
        for raw in UNUSUAL[column_type]:
            record: JSONObject = {"id": "k1", "price": Decimal("1.50"), "at": "2026-01-01T00:00:00+00:00"}
            head, _, rest = path.partition(".")
            record[head] = raw if not rest else {"k": raw} if rest == "k" else [raw]
            assert mapped_row(mapper, record) == expected_row(destination, record), (option, raw)


def test_the_demo_columns_map_a_sample_item_to_the_values_and_hash_they_always_had() -> None:
    destination = DestinationConfig.model_validate(
        {
            "table": "products",
            "primary_key": "item_id",
            "columns": {
                "item_id": {"path": "item_id"},
                "price": {"path": "rate", "type": "decimal"},
                "stock": {"path": "stock_on_hand", "type": "integer"},
                "is_active": {"path": "status", "type": "boolean", "true_values": ["active"]},
                "updated_at": {"path": "last_modified_time", "type": "datetime"},
                "extra": {"path": "extra", "type": "json"},
            },
        }
    )
    record: JSONObject = {
        "item_id": "4815000000000001",
        "rate": Decimal("296.50"),
        "stock_on_hand": 241,
        "status": "inactive",
        "last_modified_time": "2026-01-01T02:00:01+02:00",
        "extra": {"b": [Decimal("0.10")], "a": None},
    }
    row = RowMapper(destination).map(record)
    assert row.values == (
        "4815000000000001", Decimal("296.50"), 241, False, datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC),
        {"b": [Decimal("0.10")], "a": None},
    )  # fmt: skip
    assert row.values[4].tzinfo is UTC
    assert row.content_hash == "6013923a413fb7ac3b6f24f933699f1a"  # what the version before gave
    assert (row.key, row.record) == ("4815000000000001", record)


def test_a_mapped_row_is_built_and_read_by_field_name_and_cannot_be_changed() -> None:
    row = MappedRow("k1", ("k1", 3), "digest", {"id": "k1"})
    assert (row.key, row.values, row.content_hash, row.record) == ("k1", ("k1", 3), "digest", {"id": "k1"})
    with pytest.raises(AttributeError):
        row.key = "k2"  # type: ignore[misc]


@pytest.mark.parametrize("raw", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("path", ["raw", "nested.raw"])
def test_a_float_column_refuses_a_non_finite_float_as_to_float_does(raw: float, path: str) -> None:
    """JSON has no NaN, but a Python source can send one: it is a record error, as the text "NaN" is,
    not a value (SQLite would store NULL, and its content hash would be None's)."""
    assert mapped("float", path, raw) == ("refused", None)
