"""Checkpoint encoding: `decode(encode(c)) == c` for every checkpoint, and garbage is a CheckpointError."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from batchsync.errors import CheckpointError
from batchsync.models import Checkpoint
from batchsync.state.checkpoints import decode, encode

# JSON as orjson reads it from an API: integers fit 64 bits (bigger ones arrive as floats), no NaN.
json_integers = st.integers(-(2**63), 2**63 - 1)
json_scalars = (
    st.none() | st.booleans() | json_integers | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
cursors = (
    st.none() | json_integers | st.text() | st.just("https://api.example.com/v2/items?page=3&per_page=200")
)
# Fixed offsets in whole seconds, as zoneinfo's historical local mean times have (+00:19:32). Not finer:
# CPython 3.11's fromisoformat reads "+00:00:00.000001" back as UTC, which no real zone needs.
offsets = st.integers(-86_399, 86_399).map(lambda seconds: timedelta(seconds=seconds))
aware_datetimes = st.datetimes(timezones=st.builds(timezone, offsets) | st.just(UTC))
counts = st.integers(0, 2**63 - 1)

checkpoints = st.builds(
    Checkpoint,
    cursor=cursors,
    skip_records=counts,
    is_complete=st.booleans(),
    pass_started_at=st.none() | aware_datetimes,
    pass_records=counts,
    pass_watermark=json_values,
    watermark=json_values,
    max_seen_watermark=json_values,
    fingerprint=st.text(),
    total_expected=st.none() | counts,
    last_synced_at=st.none() | aware_datetimes,
)


@settings(max_examples=300, deadline=None)
@given(checkpoints)
@example(Checkpoint())
@example(
    Checkpoint(
        cursor=400,
        skip_records=50,
        pass_started_at=datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC),
        pass_records=450,
        pass_watermark="2026-01-01T00:00:00+00:00",
        watermark=None,
        max_seen_watermark="2026-01-02T03:00:00+00:00",
        fingerprint="offset|https://example.oraclecloud.com/opportunities",
        total_expected=1003,
        last_synced_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    )
)
def test_decode_of_encode_is_identity(checkpoint: Checkpoint) -> None:
    decoded = decode(encode(checkpoint))
    assert decoded == checkpoint
    # Equal datetimes could still differ in offset; the stored one keeps the offset it was given.
    for name in ("pass_started_at", "last_synced_at"):
        before, after = getattr(checkpoint, name), getattr(decoded, name)
        assert (before is None and after is None) or before.utcoffset() == after.utcoffset()


def test_encode_is_one_json_object_naming_every_field() -> None:
    text = encode(Checkpoint(cursor="abc", pass_started_at=datetime(2026, 1, 2, tzinfo=UTC)))
    document = orjson.loads(text)
    assert set(document) == {field.name for field in dataclasses.fields(Checkpoint)}
    assert document["cursor"] == "abc"
    assert document["pass_started_at"] == "2026-01-02T00:00:00+00:00"


def test_decode_ignores_fields_it_does_not_know() -> None:
    document = orjson.loads(encode(Checkpoint(cursor=7, pass_records=7)))
    document["added_in_a_later_version"] = {"anything": True}
    assert decode(orjson.dumps(document).decode()) == Checkpoint(cursor=7, pass_records=7)


def test_decode_fills_fields_missing_from_an_older_checkpoint_with_defaults() -> None:
    assert decode('{"cursor": 3}') == Checkpoint(cursor=3)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "{",
        '{"cursor": 1,}',
        '{"pass_started_at": "yesterday"}',
        '{"last_synced_at": 1700000000}',
    ],
)
def test_decode_of_garbage_is_a_checkpoint_error(text: str) -> None:
    with pytest.raises(CheckpointError, match="batchsync reset"):
        decode(text)


@pytest.mark.parametrize("text", ["[]", "null", "42", '"a string"'])
def test_decode_of_json_that_is_not_an_object_is_a_checkpoint_error(text: str) -> None:
    with pytest.raises(CheckpointError, match="batchsync reset"):
        decode(text)


@settings(max_examples=200, deadline=None)
@given(st.text() | json_values.map(lambda value: orjson.dumps(value).decode()))
def test_decode_raises_nothing_but_checkpoint_error(text: str) -> None:
    try:
        decoded = decode(text)
    except CheckpointError:
        return
    assert isinstance(decoded, Checkpoint)
