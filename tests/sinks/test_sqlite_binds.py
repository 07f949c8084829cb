"""SQLite's row binder (`_compile_binder`) binds every value as `_bind_for` says, column by column, and
its quick date-time text is exactly `datetime.isoformat()`: a different text would store a different
value than earlier versions did, and a rerun would find every row changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from batchsync.sinks.mapping import MappedRow
from batchsync.sinks.sqlite import _bind_for, _compile_binder, _compile_rows_binder, _iso_text

TYPES = ["string", "integer", "float", "decimal", "boolean", "datetime", "json"]

moments = st.datetimes(timezones=st.just(UTC))


@given(moments)
def test_the_quick_text_of_a_utc_moment_is_its_isoformat(moment: datetime) -> None:
    assert _iso_text(moment) == moment.isoformat()


@given(st.datetimes(timezones=st.sampled_from([timezone(timedelta(hours=2)), timezone(timedelta(0))])))
def test_a_moment_in_another_zone_keeps_its_own_isoformat(moment: datetime) -> None:
    assert _iso_text(moment) == moment.isoformat()


def value_of(type_name: str) -> st.SearchStrategy[Any]:
    values: dict[str, st.SearchStrategy[Any]] = {
        "string": st.text(),
        "integer": st.integers(),
        "float": st.floats(allow_nan=False),
        "decimal": st.decimals(allow_nan=False, allow_infinity=False),
        "boolean": st.booleans(),
        "datetime": moments,
        "json": st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
    }
    return st.none() | values[type_name]


@st.composite
def typed_rows(draw: st.DrawFn) -> tuple[list[str], tuple[Any, ...]]:
    types = draw(st.lists(st.sampled_from(TYPES), max_size=9))
    return types, tuple(draw(value_of(name)) for name in types)


@given(typed_rows(), st.lists(st.integers(), max_size=3))
def test_the_binder_binds_as_each_column_would_and_appends_the_rest(
    row: tuple[list[str], tuple[Any, ...]], tail: list[int]
) -> None:
    types, values = row
    binds = [_bind_for(name) for name in types]
    expected = tuple(
        value if bind is None or value is None else bind(value)
        for value, bind in zip(values, binds, strict=True)
    )
    assert _compile_binder(binds)(values, *tail) == (*expected, *tail)


def test_a_decimal_is_bound_as_its_text_and_a_boolean_as_an_integer() -> None:
    bind = _compile_binder([_bind_for("decimal"), _bind_for("boolean"), _bind_for("datetime")])
    moment = datetime(2026, 1, 1, 0, 0, 1, 5, tzinfo=UTC)
    assert bind((Decimal("296.560"), True, moment), "h") == (
        "296.560",
        1,
        "2026-01-01T00:00:01.000005+00:00",
        "h",
    )


@given(st.lists(typed_rows(), min_size=1, max_size=4), st.text(max_size=5))
def test_a_batch_is_bound_as_each_of_its_rows_would_be_with_its_hash_and_the_moment(
    rows: list[tuple[list[str], tuple[Any, ...]]], now: str
) -> None:
    types = rows[0][0]
    batch = [values for row_types, values in rows if row_types == types]  # rows of one table
    binds = [_bind_for(name) for name in types]
    mapped = [MappedRow(f"k{i}", values, f"hash{i}", {}) for i, values in enumerate(batch)]

    assert _compile_rows_binder(binds)(mapped, now) == [
        _compile_binder(binds)(row.values, row.content_hash, now) for row in mapped
    ]
