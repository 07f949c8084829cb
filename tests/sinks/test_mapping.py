"""RowMapper: a record's values picked by path, converted to each column's type, with a content hash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from batchsync.config import DestinationConfig
from batchsync.errors import RecordError
from batchsync.models import JSONObject, JSONValue
from batchsync.sinks.mapping import RowMapper


def mapper(**columns: dict[str, Any]) -> RowMapper:
    """A mapper keyed on `id` (path `id`, string) plus the given columns."""
    return RowMapper(
        DestinationConfig.model_validate(
            {"table": "items", "primary_key": "id", "columns": {"id": {"path": "id"}, **columns}}
        )
    )


def convert(column_type: str, raw: JSONValue, **options: Any) -> Any:
    """The value one column of `column_type` takes for `raw`."""
    row = mapper(value={"path": "raw", "type": column_type, **options}).map({"id": "k1", "raw": raw})
    return row.values[1]


# --- converters ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("SKU-1", "SKU-1"), (12, "12"), (12.5, "12.5"), (True, "true"), (False, "false"),
     ({"b": 1, "a": [1, 2]}, '{"a":[1,2],"b":1}'), ([1, "x"], '[1,"x"]'), ("", "")],
)  # fmt: skip
def test_string_columns_take_text_as_is_and_serialise_the_rest(raw: JSONValue, expected: str) -> None:
    assert convert("string", raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(12, 12), ("12", 12), (" 12 ", 12), (12.0, 12), ("12.0", 12), ("-7", -7), ("1e3", 1000), (True, 1),
     (0, 0), ("9007199254740993", 9007199254740993)],
)  # fmt: skip
def test_integer_columns_accept_whole_numbers_in_any_spelling(raw: JSONValue, expected: int) -> None:
    value = convert("integer", raw)
    assert value == expected
    assert type(value) is int


@pytest.mark.parametrize(
    "raw", [12.5, "12.5", "twelve", "", [1], {"n": 1}, float("inf"), float("nan"), "Infinity", "NaN"]
)
def test_integer_columns_refuse_what_is_not_a_whole_number(raw: JSONValue) -> None:
    with pytest.raises(RecordError):
        convert("integer", raw)


@pytest.mark.parametrize(("raw", "expected"), [(12.5, 12.5), (12, 12.0), ("12.25", 12.25), ("-1e2", -100.0)])
def test_float_columns_accept_numbers_and_numeric_text(raw: JSONValue, expected: float) -> None:
    value = convert("float", raw)
    assert value == expected
    assert type(value) is float


@pytest.mark.parametrize("raw", ["cheap", True, [1.5], {"amount": 1}])
def test_float_columns_refuse_what_is_not_a_number(raw: JSONValue) -> None:
    with pytest.raises(RecordError):
        convert("float", raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(12.5, Decimal("12.5")), (0.1, Decimal("0.1")), (19.99, Decimal("19.99")), ("12.50", Decimal("12.50")),
     (12, Decimal(12)), (" 3.14159265358979323846 ", Decimal("3.14159265358979323846"))],
)  # fmt: skip
def test_decimal_columns_keep_the_number_as_written(raw: JSONValue, expected: Decimal) -> None:
    value = convert("decimal", raw)
    assert value == expected
    assert str(value) == str(expected)


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-inf", "12,5", "", True, [1]])
def test_decimal_columns_refuse_what_is_not_a_finite_number(raw: JSONValue) -> None:
    with pytest.raises(RecordError):
        convert("decimal", raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-03-01T12:30:00Z", datetime(2024, 3, 1, 12, 30, tzinfo=UTC)),
        ("2024-03-01T12:30:00+05:30", datetime(2024, 3, 1, 7, 0, tzinfo=UTC)),
        ("2024-03-01T12:30:00-08:00", datetime(2024, 3, 1, 20, 30, tzinfo=UTC)),
        ("2024-03-01T12:30:00", datetime(2024, 3, 1, 12, 30, tzinfo=UTC)),
        ("2024-03-01T12:30:00.250Z", datetime(2024, 3, 1, 12, 30, 0, 250_000, tzinfo=UTC)),
        ("2024-03-01", datetime(2024, 3, 1, tzinfo=UTC)),
        (1_709_296_200, datetime(2024, 3, 1, 12, 30, tzinfo=UTC)),
        (1_709_296_200.5, datetime(2024, 3, 1, 12, 30, 0, 500_000, tzinfo=UTC)),
        (1_709_296_200_000, datetime(2024, 3, 1, 12, 30, tzinfo=UTC)),
        (1_709_296_200_123, datetime(2024, 3, 1, 12, 30, 0, 123_000, tzinfo=UTC)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_datetime_columns_become_utc(raw: JSONValue, expected: datetime) -> None:
    value = convert("datetime", raw)
    assert value == expected
    assert value.utcoffset() == timedelta(0)


def test_datetime_offsets_are_converted_not_dropped() -> None:
    value = convert("datetime", "2024-03-01T00:15:00+05:30")
    assert value == datetime(2024, 3, 1, 0, 15, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert (value.date().isoformat(), value.hour, value.minute) == ("2024-02-29", 18, 45)


@pytest.mark.parametrize("raw", ["yesterday", "2024-13-01T00:00:00Z", True, [2024], ""])
def test_datetime_columns_refuse_what_is_not_a_date_time(raw: JSONValue) -> None:
    with pytest.raises(RecordError):
        convert("datetime", raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(True, True), (False, False), ("true", True), ("FALSE", False), ("Yes", True), ("n", False),
     ("1", True), ("0", False), (1, True), (0, False), (" on ", True), ("off", False), ("t", True)],
)  # fmt: skip
def test_boolean_columns_know_the_usual_spellings(raw: JSONValue, expected: bool) -> None:
    assert convert("boolean", raw) is expected


@pytest.mark.parametrize("raw", ["active", "maybe", 2, ""])
def test_boolean_columns_refuse_unknown_spellings_without_true_values(raw: JSONValue) -> None:
    with pytest.raises(RecordError, match="true_values"):
        convert("boolean", raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("active", True), ("ACTIVE", True), ("inactive", False), ("archived", False), ("true", False)],
)
def test_boolean_with_true_values_only_makes_everything_else_false(raw: JSONValue, expected: bool) -> None:
    assert convert("boolean", raw, true_values=["Active"]) is expected


@pytest.mark.parametrize(("raw", "expected"), [("deleted", False), ("live", True), ("draft", True)])
def test_boolean_with_false_values_only_makes_everything_else_true(raw: JSONValue, expected: bool) -> None:
    assert convert("boolean", raw, false_values=["deleted"]) is expected


def test_boolean_with_both_lists_refuses_a_value_in_neither() -> None:
    options = {"true_values": ["open"], "false_values": ["closed"]}
    assert convert("boolean", "open", **options) is True
    assert convert("boolean", "Closed", **options) is False
    with pytest.raises(RecordError, match="true_values"):
        convert("boolean", "pending", **options)


def test_json_columns_keep_the_value_and_dollar_means_the_whole_record() -> None:
    row = mapper(
        record={"path": "$", "type": "json"},
        tags={"path": "tags", "type": "json"},
        first_tag={"path": "tags.0.name", "type": "string"},
    ).map(record := {"id": "k1", "tags": [{"name": "red"}, {"name": "blue"}], "extra": None})
    assert row.values == ("k1", record, [{"name": "red"}, {"name": "blue"}], "red")


# --- paths, missing values and keys -------------------------------------------------------------------


def test_nested_paths_pick_values_inside_objects_and_lists() -> None:
    row = mapper(
        city={"path": "address.city"},
        second={"path": "lines.1.qty", "type": "integer"},
        field={"path": "custom_fields.0.value", "type": "decimal"},
    ).map({"id": "k1", "address": {"city": "Pune"}, "lines": [{"qty": 1}, {"qty": "2"}],
           "custom_fields": [{"value": 12.5}]})  # fmt: skip
    assert row.values == ("k1", "Pune", 2, Decimal("12.5"))


@pytest.mark.parametrize(
    "column_type", ["string", "integer", "float", "decimal", "boolean", "datetime", "json"]
)
def test_missing_or_null_values_become_none(column_type: str) -> None:
    row_mapper = mapper(
        missing={"path": "a.b.c", "type": column_type}, null={"path": "n", "type": column_type}
    )
    assert row_mapper.map({"id": "k1", "a": {"b": {}}, "n": None}).values == ("k1", None, None)
    assert row_mapper.map({"id": "k1", "a": "not an object"}).values == ("k1", None, None)


@pytest.mark.parametrize("record", [{"name": "no id"}, {"id": None}, {"id": ""}])
def test_a_record_without_a_primary_key_is_a_record_error(record: JSONObject) -> None:
    with pytest.raises(RecordError, match="primary key") as raised:
        mapper(name={"path": "name"}).map(record)
    assert raised.value.key is None
    assert raised.value.column == "id"


def test_an_integer_primary_key_is_kept_as_an_integer() -> None:
    row = RowMapper(
        DestinationConfig.model_validate(
            {
                "table": "t",
                "primary_key": "item_id",
                "columns": {"item_id": {"path": "id", "type": "integer"}},
            }
        )
    ).map({"id": "0"})
    assert row.key == 0


def test_a_value_that_does_not_convert_is_a_record_error_naming_the_column_and_key() -> None:
    row_mapper = mapper(price={"path": "rate", "type": "decimal"})
    with pytest.raises(RecordError) as raised:
        row_mapper.map({"id": "item-7", "rate": "twelve"})
    assert raised.value.column == "price"
    assert raised.value.key == "item-7"
    assert "price" in str(raised.value)
    assert "rate" in str(raised.value)


def test_an_integer_too_large_for_a_database_is_a_record_error() -> None:
    # 2**70: no SQL integer column holds it; the mapper must reject the record, not crash the batch.
    with pytest.raises(RecordError) as raised:
        mapper(quantity={"path": "qty", "type": "integer"}).map({"id": "k1", "qty": str(2**70)})
    assert raised.value.column == "quantity"


@pytest.mark.parametrize("raw", [10**18, -(10**18), 1e300, Decimal("9E+20")])
def test_unix_time_beyond_any_date_is_a_record_error_not_a_crash(raw: JSONValue) -> None:
    # Millions of years out: the C library refuses it with an OSError (EOVERFLOW), not a ValueError.
    with pytest.raises(RecordError) as raised:
        mapper(changed={"path": "ts", "type": "datetime"}).map({"id": "k1", "ts": raw})
    assert raised.value.column == "changed" and raised.value.key == "k1"


def test_the_example_zoho_item_maps_to_a_product_row() -> None:
    destination = DestinationConfig.model_validate(
        {
            "table": "products",
            "primary_key": "zoho_item_id",
            "columns": {
                "zoho_item_id": {"path": "item_id", "type": "string"},
                "sku": {"path": "sku", "type": "string"},
                "name": {"path": "name", "type": "string"},
                "price": {"path": "rate", "type": "decimal"},
                "stock_quantity": {"path": "stock_on_hand", "type": "integer"},
                "is_active": {"path": "status", "type": "boolean", "true_values": ["active"]},
            },
        }
    )
    item = {"item_id": "4815000000000001", "sku": "SKU-00001", "name": "Widget", "rate": 12.5,
            "stock_on_hand": 3.0, "status": "inactive", "unit": "pcs"}  # fmt: skip
    row = RowMapper(destination).map(item)
    assert row.key == "4815000000000001"
    assert row.values == ("4815000000000001", "SKU-00001", "Widget", Decimal("12.5"), 3, False)


# --- content hash -------------------------------------------------------------------------------------

json_leaves = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=10)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


def reordered(value: JSONValue, data: st.DataObject) -> JSONValue:
    """The same JSON value with every object's keys in an order Hypothesis picks."""
    if isinstance(value, dict):
        keys = data.draw(st.permutations(list(value)))
        return {key: reordered(value[key], data) for key in keys}
    if isinstance(value, list):
        return [reordered(item, data) for item in value]
    return value


HASHED = mapper(
    name={"path": "name"},
    price={"path": "price", "type": "decimal"},
    updated={"path": "updated", "type": "datetime"},
    payload={"path": "payload", "type": "json"},
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=6), json_values, max_size=5), st.data())
def test_content_hash_does_not_depend_on_key_order(payload: JSONObject, data: st.DataObject) -> None:
    record = {"id": "k1", "name": "Widget", "price": "12.5", "updated": "2024-03-01T12:30:00Z",
              "payload": payload, "ignored": [1, 2]}  # fmt: skip
    shuffled = reordered(record, data)
    assert HASHED.map(shuffled).content_hash == HASHED.map(record).content_hash


@settings(max_examples=100, deadline=None)
@given(json_values, json_values)
def test_content_hash_differs_when_a_json_value_differs(first: JSONValue, second: JSONValue) -> None:
    assume(first != second)
    one = HASHED.map({"id": "k1", "payload": first})
    other = HASHED.map({"id": "k1", "payload": second})
    assert one.content_hash != other.content_hash


def test_content_hash_differs_when_a_column_value_changes() -> None:
    base = {"id": "k1", "name": "Widget", "price": 12.5, "updated": "2024-03-01T12:30:00Z"}
    hashes = {
        HASHED.map(base).content_hash,
        HASHED.map({**base, "name": "Gadget"}).content_hash,
        HASHED.map({**base, "price": 12.51}).content_hash,
        HASHED.map({**base, "updated": "2024-03-01T12:30:01Z"}).content_hash,
        HASHED.map({**base, "id": "k2"}).content_hash,
        HASHED.map({**base, "name": None}).content_hash,
    }
    assert len(hashes) == 6


def test_content_hash_ignores_fields_that_are_not_columns_and_equal_spellings_of_an_instant() -> None:
    base = {"id": "k1", "name": "Widget", "updated": "2024-03-01T12:30:00Z"}
    same = {"id": "k1", "name": "Widget", "updated": "2024-03-01T18:00:00+05:30", "unmapped": "x"}
    assert HASHED.map(same).content_hash == HASHED.map(base).content_hash


@pytest.mark.parametrize("raw", [True, False])
def test_a_json_boolean_keeps_its_value_whatever_the_true_values(raw: bool) -> None:
    assert convert("boolean", raw, true_values=["Active"]) is raw
    assert convert("boolean", raw, false_values=["Inactive"]) is raw


def test_the_keys_of_a_page_are_each_records_key_and_none_where_it_does_not_convert() -> None:
    """`keys_of` (a whole page in one go) and `key_of` (one record) agree, a bad key included."""
    keyed_by_number = RowMapper(
        DestinationConfig.model_validate(
            {"table": "items", "primary_key": "id", "columns": {"id": {"path": "id", "type": "integer"}}}
        )
    )
    records: list[JSONObject] = [{"id": 1}, {"id": "2"}, {"id": "two"}, {}, {"id": 4.0}]

    assert keyed_by_number.keys_of(records) == [1, 2, None, None, 4]
    assert keyed_by_number.keys_of(records) == [keyed_by_number.key_of(record) for record in records]
    assert keyed_by_number.keys_of(records[:2]) == [1, 2]
