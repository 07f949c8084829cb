"""JSON text in and out, exactly: the one place batchsync parses an API's answers and writes JSON values.

Numbers are read without loss: integers of any size as `int`, every other number as a `Decimal` holding
the digits the API sent (`1.10` stays `1.10`, `1e400` stays `1E+400`), so the column type, not the parser,
decides what may be rounded (`float` columns) and what never is (`integer`, `decimal`). msgspec reads
that way at orjson's speed. A body msgspec refuses although it is valid JSON (a lone surrogate escape,
nesting past about a thousand levels) is read again by the standard library's complete parser on a
thread with a deep stack, so one odd value never fails a whole page; a body that is not JSON at all
raises `InvalidJsonError`, saying what is wrong and where, and whether the body was merely cut short
(worth fetching again) or will never parse.

Writing goes the other way: orjson on the fast path (Decimals as their exact digits), msgspec for what
orjson cannot write (integers beyond 64 bits, nesting past 254 levels), on the deep stack when needed.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import msgspec
import orjson

from batchsync.models import JSONValue

MAX_DEPTH = 100_000
"""Nesting the fallback parser and writer follow; deeper values are refused with a clear message."""

_DEEP_STACK_BYTES = 256 * 1024 * 1024  # reserved address space; only the pages a deep value touches are used
_DECODER = msgspec.json.Decoder(float_hook=Decimal)
_FLOAT_DECODER = msgspec.json.Decoder()
_ENCODER = msgspec.json.Encoder(decimal_format="number")
_SORTED_ENCODER = msgspec.json.Encoder(decimal_format="number", order="sorted")
_deep_stack_lock = threading.Lock()
T = TypeVar("T")


class InvalidJsonError(ValueError):
    """A body that is not JSON. `is_truncated`: it ends before its value does (a cut connection), so
    fetching it again may help; otherwise the same bytes will fail the same way."""

    def __init__(self, message: str, *, offset: int, is_truncated: bool) -> None:
        self.offset = offset
        self.is_truncated = is_truncated
        super().__init__(message)


class UnwritableJsonError(ValueError):
    """A value that cannot be written as JSON text: a lone surrogate, NaN, nesting past `MAX_DEPTH`."""


def parse(body: bytes | str, *, fractions_as_decimal: bool = True) -> JSONValue:
    """The JSON value of `body`, integers exact, other numbers as Decimals (or, for batchsync's own
    state, which stores Python floats, `fractions_as_decimal=False`: floats). Raises InvalidJsonError."""
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    try:
        return (_DECODER if fractions_as_decimal else _FLOAT_DECODER).decode(body)
    except (msgspec.DecodeError, RecursionError) as exc:
        fast_error = str(exc)
    return _parse_completely(
        body, looks_truncated="truncated" in fast_error, fractions_as_decimal=fractions_as_decimal
    )


def dumps(value: JSONValue, *, sort_keys: bool = False) -> str:
    """`value` as JSON text, Decimals as their exact digits. Raises UnwritableJsonError."""
    try:
        option = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS if sort_keys else 0
        return orjson.dumps(value, default=_exact_number, option=option).decode()
    except orjson.JSONEncodeError:
        pass
    encoder = _SORTED_ENCODER if sort_keys else _ENCODER
    try:
        return _on_deep_stack(lambda: encoder.encode(value)).decode()
    except RecursionError:
        raise UnwritableJsonError(f"nested deeper than {MAX_DEPTH:,} levels") from None
    except (msgspec.EncodeError, TypeError, ValueError, UnicodeEncodeError) as exc:
        raise UnwritableJsonError(_unwritable_reason(exc)) from None


def dumps_for_display(value: JSONValue) -> str:
    """JSON text for a dead letter or a message: never raises. What `dumps` cannot write is escaped
    (surrogates as `\\udXXX`) or, past `MAX_DEPTH`, cut to a preview that says so."""
    try:
        return dumps(value)
    except UnwritableJsonError:
        pass
    try:
        return _on_deep_stack(lambda: json.dumps(value, ensure_ascii=True, default=str))
    except (RecursionError, ValueError, TypeError):
        return json.dumps({"unreadable_record_preview": repr(value)[:2000]})


def _exact_number(value: Any) -> Any:
    """orjson's hook for what it cannot write itself: a Decimal goes out as its own digits."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise TypeError(f"{value} is not a JSON number")
        return orjson.Fragment(str(value))
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _unwritable_reason(exc: Exception) -> str:
    text = str(exc)
    if "surrogate" in text:
        return "text is not valid Unicode (it holds a lone surrogate such as \\ud800)"
    return text


def _parse_completely(body: bytes, *, looks_truncated: bool, fractions_as_decimal: bool) -> JSONValue:
    """The standard library's parser: slower, but it reads every valid document at any depth."""
    try:
        text = body.decode(json.detect_encoding(body))
    except UnicodeDecodeError as exc:
        bad = body[exc.start : exc.start + 1].hex()
        raise InvalidJsonError(
            f"invalid UTF-8 (byte 0x{bad}) at byte offset {exc.start}", offset=exc.start, is_truncated=False
        ) from None
    if text.startswith("\ufeff"):  # a byte-order mark: RFC 8259 lets a parser ignore it
        text = text[1:]
    try:
        as_fraction = Decimal if fractions_as_decimal else float
        return _on_deep_stack(lambda: json.loads(text, parse_float=as_fraction, parse_constant=as_fraction))
    except RecursionError:
        raise InvalidJsonError(
            f"nested deeper than {MAX_DEPTH:,} levels", offset=0, is_truncated=False
        ) from None
    except json.JSONDecodeError as exc:
        is_truncated = looks_truncated or exc.pos >= len(exc.doc.rstrip())
        raise InvalidJsonError(
            f"{exc.msg} at line {exc.lineno} column {exc.colno} (character {exc.pos})",
            offset=exc.pos,
            is_truncated=is_truncated,
        ) from None


def _on_deep_stack(work: Callable[[], T]) -> T:
    """Run `work` on a thread with a large stack and a recursion limit of `MAX_DEPTH`, for the recursive
    parsers and writers on a deeply nested value. The recursion limit is process-wide, hence the lock."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, work()))
        except BaseException as exc:  # handed to the calling thread below
            outcome.append((False, exc))

    with _deep_stack_lock:
        previous_limit = sys.getrecursionlimit()
        previous_stack = threading.stack_size(_DEEP_STACK_BYTES)
        try:
            sys.setrecursionlimit(max(previous_limit, MAX_DEPTH + 1_000))
            thread = threading.Thread(target=run, name="batchsync-deep-json", daemon=True)
            thread.start()
            thread.join()
        finally:
            threading.stack_size(previous_stack)
            sys.setrecursionlimit(previous_limit)
    is_value, result = outcome[0]
    if is_value:
        return result  # type: ignore[no-any-return]
    raise result
