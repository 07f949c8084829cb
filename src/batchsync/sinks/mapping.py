"""Record → row: pick each column's value by its dotted path and convert it to the column's type.

The converted values are plain Python (str, int, float, Decimal, bool, datetime, JSON) so every sink can
bind them its own way; the content hash is taken over them, so "unchanged" means the same converted
content whatever the database stores.
"""

from __future__ import annotations

import hashlib
import math
import reprlib
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

import orjson

from batchsync import jsontext
from batchsync.config import ColumnConfig, DestinationConfig
from batchsync.errors import RecordError
from batchsync.models import JSONObject, JSONValue
from batchsync.paths import MISSING, DottedPath
from batchsync.truthy import truth_of_text

Converter = Callable[[JSONValue], Any]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MILLISECOND_EPOCH_THRESHOLD = 100_000_000_000  # later than 5138 AD as seconds: surely milliseconds


class MappedRow(NamedTuple):
    """One record as a row: its key, its column values in `RowMapper.columns` order, its content hash.

    A named tuple rather than a frozen dataclass: one is made for every record, and a tuple is built in
    one C call (`RowMapper.map` makes it with `tuple.__new__`) where a frozen dataclass's `__init__` sets
    each field through `object.__setattr__`. It is as immutable, and reads its fields as fast."""

    key: Any
    values: tuple[Any, ...]
    content_hash: str
    record: JSONObject
    """The record the row came from, kept for dead letters should the database refuse the row."""


class ColumnsMapper:
    """Reads and converts a set of columns from records (no primary key needed: lookups use this)."""

    def __init__(self, columns: dict[str, ColumnConfig]) -> None:
        self.columns: tuple[str, ...] = tuple(columns)
        self._paths = tuple(DottedPath.parse(column.path) for column in columns.values())
        self._readers = tuple(
            _reader_for(path, column) for path, column in zip(self._paths, columns.values(), strict=True)
        )
        self._converters = tuple(converter_for(column) for column in columns.values())
        self._types = tuple(column.type for column in columns.values())

    def values(self, record: JSONObject) -> list[Any]:
        """The converted values. Raises RecordError naming the first column that does not convert."""
        values = []
        for name, path, read in zip(self.columns, self._paths, self._readers, strict=True):
            try:
                values.append(read(record))
            except (ValueError, TypeError, InvalidOperation, OverflowError) as exc:
                reason = "not a number" if isinstance(exc, InvalidOperation) else str(exc)
                raise RecordError(
                    f"column {name!r}: cannot convert {_preview(path.get(record))} from {path}: {reason}",
                    column=name,
                ) from None
        return values

    def same_as_stored(self, stored: tuple[Any, ...], values: list[Any]) -> bool:
        """True when a row read back from the database holds these values (compared as converted)."""
        for kind, convert, old, new in zip(self._types, self._converters, stored, values, strict=True):
            if old is None or new is None:
                if old is not new:
                    return False
                continue
            if kind == "json" and isinstance(old, str):
                old = jsontext.parse(old.encode())
            if isinstance(old, datetime):  # PostgreSQL's driver hands back a datetime, not its text
                if _as_utc(old) != new:
                    return False
                continue
            try:
                if convert(old) != new:
                    return False
            except (ValueError, TypeError, InvalidOperation, OverflowError):
                return False
        return True


class RowMapper:
    """Maps records to rows for one destination; raises RecordError naming the column and the problem."""

    def __init__(self, destination: DestinationConfig) -> None:
        self.columns: tuple[str, ...] = tuple(destination.columns)
        self.key_index = self.columns.index(destination.primary_key)
        self._paths = tuple(DottedPath.parse(column.path) for column in destination.columns.values())
        self._readers = tuple(
            _reader_for(path, column)
            for path, column in zip(self._paths, destination.columns.values(), strict=True)
        )
        self._read_all = compile_row_reader(zip(self._paths, destination.columns.values(), strict=True))

    def map(self, record: JSONObject) -> MappedRow:
        try:
            values, hashed = self._read_all(record)
        except (ValueError, TypeError, InvalidOperation, OverflowError):
            raise self._explain(record) from None
        key = values[self.key_index]
        if key is None or key == "":
            raise RecordError(
                f"record has no primary key at {self._paths[self.key_index]}",
                column=self.columns[self.key_index],
            )
        try:  # `content_hash(values)`, inline, with the Decimal columns already given as their digits
            encoded = _dumps(hashed, default=_hashable, option=_HASH_OPTIONS)
        except orjson.JSONEncodeError:
            digest = self._hash_the_slow_way(record, values)
        else:
            hasher = _EMPTY_BLAKE2B.copy()
            hasher.update(encoded)
            digest = hasher.hexdigest()
        return _new_row(MappedRow, (key, values, digest, record))

    def _hash_the_slow_way(self, record: JSONObject, values: tuple[Any, ...]) -> str:
        """`content_hash` for what orjson cannot write (see there), or the dead letter that says why."""
        try:
            return content_hash(values)
        except jsontext.UnwritableJsonError:
            raise self._explain_unwritable(record, list(values)) from None

    def key_of(self, record: JSONObject) -> Any:
        """The record's converted primary key, or None when it has none that converts."""
        try:
            return self._readers[self.key_index](record)
        except (ValueError, TypeError, InvalidOperation, OverflowError):
            return None

    def keys_of(self, records: list[JSONObject]) -> list[Any]:
        """`key_of` of each record, in one pass: the run asks this of every page it fetches."""
        read = self._readers[self.key_index]
        try:
            return [read(record) for record in records]
        except (ValueError, TypeError, InvalidOperation, OverflowError):
            return [self.key_of(record) for record in records]

    def _explain(self, record: JSONObject) -> RecordError:
        """The slow path, taken only for a bad record: find the column that failed and say why."""
        for name, path, read in zip(self.columns, self._paths, self._readers, strict=True):
            try:
                read(record)
            except (ValueError, TypeError, InvalidOperation, OverflowError) as exc:
                key = self._key_text(record)
                reason = "not a number" if isinstance(exc, InvalidOperation) else str(exc)
                return RecordError(
                    f"record {key or '(no key)'}: column {name!r}: cannot convert "
                    f"{_preview(path.get(record))} from {path}: {reason}",
                    key=key,
                    column=name,
                )
        return RecordError("record could not be mapped", key=self._key_text(record))

    def _explain_unwritable(self, record: JSONObject, values: list[Any]) -> RecordError:
        """The slow path for a row whose values cannot be written (a lone surrogate, nesting past
        `jsontext.MAX_DEPTH`): name the column."""
        key = self._key_text(record)
        for name, value in zip(self.columns, values, strict=True):
            try:
                content_hash([value])
            except jsontext.UnwritableJsonError as exc:
                return RecordError(
                    f"record {key or '(no key)'}: column {name!r}: {exc}", key=key, column=name
                )
        return RecordError("record could not be mapped", key=key)

    def _key_text(self, record: JSONObject) -> str | None:
        raw = self._paths[self.key_index].get(record)
        return None if raw is MISSING or raw is None else str(raw)


def _reader_for(path: DottedPath, column: ColumnConfig) -> Callable[[JSONObject], Any]:
    """One function that fetches and converts a column's value: this runs for every column of every
    record, so the common cases (a top-level key, a value already in the form its type takes) take no
    detour through the general converter, nor through a second function call."""
    convert = converter_for(column)
    steps = path.steps
    if len(steps) == 1:
        return _top_level_reader(steps[0], column.type, convert)
    quick = _quick_converter(column.type, convert)

    def read_path(record: JSONObject) -> Any:
        raw = path.get(record)
        if raw is MISSING or raw is None:
            return None
        return quick(raw)

    return read_path


_new_row = tuple.__new__

RowReader = Callable[[JSONObject], tuple[tuple[Any, ...], Sequence[Any]]]
"""A record's converted values, and the same values as `content_hash` writes them (see below)."""


def compile_row_reader(columns: Iterable[tuple[DottedPath, ColumnConfig]]) -> RowReader:
    """One function that reads and converts every column of a record in one call: the per-column
    readers (`_reader_for`) written out as the source of a single function, as `dataclasses` writes
    `__init__`, which saves a call per column.

    Each column gets the same test of its type's usual form, inline, and any other value goes to the
    same converter (a date-time to the same `_quick_datetime`), so the values and the errors are the
    ones the per-column readers give; `RowMapper.map` sends any error to `_explain`, which finds the
    failing column with those readers. The function returns `(values, hashed)`, `hashed` being the
    values with each decimal column's Decimal as the `orjson.Fragment` of its digits, which is what
    `content_hash` writes for it, so hashing needs no Python hook per row. The source names nothing
    from the config: keys, paths and converters are bound as `key_0`, `path_0`, `convert_0`, ...
    For the demo's columns it reads, in part:

        v3 = record.get(key_3)
        if not (v3.__class__ is Decimal and v3.is_finite()) and v3 is not None: v3 = convert_3(v3)
        ...
        values = (v0, v1, v2, v3, v4, v5, v6, v7,)
        return values, [v0, v1, v2, None if v3 is None else fragment(str(v3)), v4, v5, v6, v7]
    """
    namespace: dict[str, Any] = {
        "MISSING": MISSING, "Decimal": Decimal, "UTC": UTC, "fromisoformat": datetime.fromisoformat,
        "INT64_MIN": _INT64_MIN, "INT64_MAX": _INT64_MAX, "quick_datetime": _quick_datetime,
        "fragment": orjson.Fragment, "isfinite": math.isfinite,
    }  # fmt: skip
    lines: list[str] = []
    values: list[str] = []
    hashed: list[str] = []
    for i, (path, column) in enumerate(columns):
        v = f"v{i}"
        namespace[f"convert_{i}"] = converter_for(column)
        if len(path.steps) == 1:
            namespace[f"key_{i}"] = path.steps[0]
            lines.append(f"{v} = record.get(key_{i})")
        else:
            namespace[f"path_{i}"] = path
            lines += [f"{v} = path_{i}.get(record)", f"if {v} is MISSING: {v} = None"]
        lines += _conversion_lines(v, i, column, namespace)
        values.append(v)
        hashed.append(f"None if {v} is None else fragment(str({v}))" if column.type == "decimal" else v)
    lines.append(f"values = ({', '.join(values)},)")
    lines.append("return values, " + ("values" if hashed == values else f"[{', '.join(hashed)}]"))
    source = "def read_all(record):\n" + "".join(f"    {line}\n" for line in lines)
    exec(compile(source, "<batchsync row reader>", "exec"), namespace)
    read_all: RowReader = namespace["read_all"]
    return read_all


_USUAL_FORMS = {
    "string": "{v}.__class__ is str",
    "float": "{v}.__class__ is float and isfinite({v})",
    "integer": "{v}.__class__ is int and INT64_MIN <= {v} <= INT64_MAX",
    "decimal": "{v}.__class__ is Decimal and {v}.is_finite()",
    "boolean": "{v}.__class__ is bool",
}
"""Per type, the test for a value already as its converter gives it (as in `_quick_converter`)."""


def _conversion_lines(v: str, i: int, column: ColumnConfig, namespace: dict[str, Any]) -> list[str]:
    """The source that converts variable `v`, column `i`'s raw value, in place (None stays None)."""
    if column.type == "json":
        return []  # to_json takes any value as it is
    if column.type == "datetime":  # `_quick_datetime`'s first step inline, the whole of it otherwise
        return [
            f"if {v}.__class__ is str:",
            "    try:",
            f"        moment = fromisoformat({v})",
            "    except ValueError:",
            "        moment = None",
            f"    {v} = moment if moment is not None and moment.tzinfo is UTC else quick_datetime({v})",
            f"elif {v} is not None: {v} = quick_datetime({v})",
        ]
    trues, falses = _lowered(column.true_values), _lowered(column.false_values)
    if column.type == "boolean" and (trues is None) != (falses is None):
        # to_boolean with one list: text is true when in true_values, or when not in false_values
        namespace[f"words_{i}"] = trues if falses is None else falses
        test = "in" if falses is None else "not in"
        return [
            f"if {v}.__class__ is str: {v} = {v}.strip().lower() {test} words_{i}",
            f"elif {v} is not None and {v}.__class__ is not bool: {v} = convert_{i}({v})",
        ]
    usual = _USUAL_FORMS[column.type].format(v=v)
    return [f"if not ({usual}) and {v} is not None: {v} = convert_{i}({v})"]


def _top_level_reader(key: str, type_name: str, convert: Converter) -> Callable[[JSONObject], Any]:
    """A reader of `record[key]` with its type's usual form tested inline (see `_quick_converter`)."""
    if type_name == "string":
        return lambda record: (
            raw if (raw := record.get(key)) is None or raw.__class__ is str else convert(raw)
        )
    if type_name == "integer":
        return lambda record: (
            raw
            if (raw := record.get(key)) is None or (raw.__class__ is int and _INT64_MIN <= raw <= _INT64_MAX)
            else convert(raw)
        )
    if type_name == "decimal":
        return lambda record: (
            raw
            if (raw := record.get(key)) is None or (raw.__class__ is Decimal and raw.is_finite())
            else convert(raw)
        )
    quick = _quick_converter(type_name, convert)
    return lambda record: None if (raw := record.get(key)) is None else quick(raw)


def _quick_converter(type_name: str, convert: Converter) -> Converter:
    """`convert`, with the value's usual form handled first: text for a string, an int in range, a
    finite Decimal (how the JSON reader gives every fraction), ISO text in UTC for a date-time. Anything
    else goes to `convert`, which gives the same value, or the error, it always did."""
    if type_name == "string":
        return lambda raw: raw if raw.__class__ is str else convert(raw)
    if type_name == "float":
        return lambda raw: raw if raw.__class__ is float and math.isfinite(raw) else convert(raw)
    if type_name == "integer":
        return lambda raw: raw if raw.__class__ is int and _INT64_MIN <= raw <= _INT64_MAX else convert(raw)
    if type_name == "decimal":
        return lambda raw: raw if raw.__class__ is Decimal and raw.is_finite() else convert(raw)
    if type_name == "datetime":
        return _quick_datetime
    return convert


def _quick_datetime(raw: JSONValue) -> datetime:
    """ISO text straight to `datetime.fromisoformat`; the general `to_datetime` only when that fails or
    the moment is not in UTC already."""
    if raw.__class__ is str:
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            return to_datetime(raw)
        if moment.tzinfo is UTC:
            return moment
        return _as_utc(moment)
    return to_datetime(raw)


def content_hash(values: list[Any] | tuple[Any, ...]) -> str:
    """A stable digest of converted values (dict keys sorted, Decimals by their exact digits).

    Raises jsontext.UnwritableJsonError for a value no database could store as text (a lone surrogate),
    which is how such a record becomes a dead letter before it reaches the database."""
    try:
        encoded = orjson.dumps(values, default=_hashable, option=_HASH_OPTIONS)
    except orjson.JSONEncodeError:  # beyond orjson: an integer past 64 bits, nesting past 254 levels
        encoded = jsontext.dumps(list(values), sort_keys=True).encode()
    return _digest(encoded)


_HASH_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
_dumps = orjson.dumps
_EMPTY_BLAKE2B = hashlib.blake2b(digest_size=16)


def _digest(encoded: bytes) -> str:
    """`blake2b(encoded, digest_size=16).hexdigest()`: copying a hasher made once costs less than
    making one (its parameters parsed) per row; the copy starts from the same state, so the same digest."""
    hasher = _EMPTY_BLAKE2B.copy()
    hasher.update(encoded)
    return hasher.hexdigest()


def _hashable(value: Any) -> Any:
    """Decimals hash as their digits (so 12.5 hashes as it did when it was read as a float)."""
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value)) if value.is_finite() else str(value)
    return str(value)


def _preview(raw: JSONValue) -> str:
    text = reprlib.repr(raw) if isinstance(raw, dict | list) else repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."


def converter_for(column: ColumnConfig) -> Converter:
    """The column's general converter: what every reader's quick path must agree with, and falls back to."""
    if column.type == "boolean":
        return _boolean_converter(column.true_values, column.false_values)
    return _CONVERTERS[column.type]


def to_string(raw: JSONValue) -> str:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, dict | list):
        return jsontext.dumps(raw, sort_keys=True)
    return str(raw)


def to_integer(raw: JSONValue) -> int:
    if raw.__class__ is int:
        number = raw
    elif isinstance(raw, bool):
        return int(raw)
    elif isinstance(raw, float):
        if not raw.is_integer():
            raise ValueError("not a whole number")
        number = int(raw)
    elif isinstance(raw, str | Decimal):
        exact = Decimal(raw.strip()) if isinstance(raw, str) else raw
        if not exact.is_finite():
            raise ValueError("not a finite number")
        if exact != exact.to_integral_value():
            raise ValueError("not a whole number")
        number = int(exact)
    else:
        raise TypeError(f"expected a number, got {type(raw).__name__}")
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise ValueError(f"{number} is out of the 64-bit integer range databases store")
    return number


def to_float(raw: JSONValue) -> float:
    """The one conversion that may round: a float column asked for a binary float."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        raise TypeError(f"expected a number, got {type(raw).__name__}")
    number = float(raw)
    if not math.isfinite(number):
        raise ValueError("out of the range of a float" if raw == raw else "not a number")
    return number


def to_decimal(raw: JSONValue) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        raise TypeError(f"expected a number, got {type(raw).__name__}")
    # str() of a float is its shortest round-trip text: 12.5 stays 12.5, not 12.5000000000000001.
    number = raw if isinstance(raw, Decimal) else Decimal(str(raw).strip())
    if not number.is_finite():
        raise ValueError("not a finite number")
    return number


def to_datetime(raw: JSONValue) -> datetime:
    """ISO 8601 text (a trailing Z or an offset; naive means UTC) or Unix seconds / milliseconds."""
    if isinstance(raw, bool):
        raise TypeError("expected a date-time, got a boolean")
    if isinstance(raw, int | float | Decimal):
        seconds = float(raw)
        if abs(seconds) >= _MILLISECOND_EPOCH_THRESHOLD:
            seconds /= 1000
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError):  # the C library's gmtime says EOVERFLOW as an OSError
            raise ValueError(f"{raw} is beyond the moments a date-time can hold") from None
    if not isinstance(raw, str):
        raise TypeError(f"expected a date-time, got {type(raw).__name__}")
    return _as_utc(datetime.fromisoformat(raw.strip()))


def _as_utc(moment: datetime) -> datetime:
    """A stored moment as `to_datetime` gives one: aware, in UTC (naive means UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def to_json(raw: JSONValue) -> JSONValue:
    return raw


def _boolean_converter(true_values: list[str] | None, false_values: list[str] | None) -> Converter:
    """With `true_values` only, any other value is false (e.g. status active/inactive); JSON true and false
    are always themselves."""
    trues, falses = _lowered(true_values), _lowered(false_values)

    def to_boolean(raw: JSONValue) -> bool:
        if isinstance(raw, bool):  # a JSON boolean says what it means; the value lists are for the rest
            return raw
        text = to_string(raw).strip().lower()
        if trues is not None or falses is not None:
            if trues is not None and text in trues:
                return True
            if falses is not None and text in falses:
                return False
            if trues is not None and falses is None:
                return False
            if falses is not None and trues is None:
                return True
            raise ValueError(
                f"not in true_values {sorted(trues or ())} or false_values {sorted(falses or ())}"
            )
        truth = truth_of_text(text)  # the words batchsync reads everywhere: see truthy.py
        if truth is None:
            raise ValueError("not a recognised boolean (set true_values)")
        return truth

    return to_boolean


def _lowered(words: list[str] | None) -> frozenset[str] | None:
    """A true_values or false_values list as `to_boolean` compares text with it (None when not set)."""
    return frozenset(word.lower() for word in words) if words else None


_CONVERTERS: dict[str, Converter] = {
    "string": to_string,
    "integer": to_integer,
    "float": to_float,
    "decimal": to_decimal,
    "datetime": to_datetime,
    "json": to_json,
}
