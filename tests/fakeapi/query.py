"""The fake API's filter: the product's (`modified_since`, `sort`) narrowed by an Oracle-style `q`, and a
half-open window for partitioned pulls on the product's page-number shape: `modified_from` (>=) and
`modified_before` (<), or the same in `q` (`last_modified_time >= '...' and last_modified_time < '...'`).

`q=last_modified_time > '2026-01-01T00:00:00+00:00'` is searched for rather than matched whole, so a SOQL
string ("SELECT ... WHERE last_modified_time > '...'") carries the same filter. Every collection shape of
the fake API accepts it, the product's page-number shape included (through `Collection.items_for`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from batchsync.sampleapi.inventory import read_filter, read_timestamp
from batchsync.sampleapi.messages import BadRequestError

_MODIFIED_AFTER_EXPRESSION = re.compile(r"last_modified_time\s*>(?!=)\s*(?:'([^']*)'|(\S+))")
_WINDOW_EXPRESSIONS = {
    "modified_from": re.compile(r"last_modified_time\s*>=\s*'([^']*)'"),
    "modified_before": re.compile(r"last_modified_time\s*<(?!=)\s*'([^']*)'"),
}


@dataclass(frozen=True, slots=True)
class Selection:
    """Which items a request pages through, and in what order."""

    modified_after: datetime | None = None
    sort_by_modified: bool = False


def read_selection(query: Mapping[str, str], *, is_unknown_q_ignored: bool = False) -> Selection:
    """The selection named by `modified_since`, `q` and `sort`; both filters given means both apply.

    Salesforce's `q` is arbitrary SOQL, so that endpoint ignores a `q` without the filter expression;
    elsewhere an unreadable `q` is a 400 rather than a silently unfiltered answer.
    """
    return narrow(Selection(*read_filter(query)), query.get("q"), is_unknown_q_ignored=is_unknown_q_ignored)


def narrow(selection: Selection, expression: str | None, *, is_unknown_q_ignored: bool = False) -> Selection:
    """`selection` narrowed by the `q` expression (None or empty: left as it is); see `read_selection`."""
    match = _MODIFIED_AFTER_EXPRESSION.search(expression) if expression else None
    if match is None:
        if expression and not is_unknown_q_ignored and not read_window({"q": expression}).is_bounded:
            raise BadRequestError(
                f"unsupported q expression {expression!r}; expected last_modified_time > '<ISO-8601>'",
                param="q",
            )
        return selection
    quoted, bare = match.group(1, 2)
    bounds = [read_timestamp(quoted if quoted is not None else bare, "q"), selection.modified_after]
    return Selection(max(bound for bound in bounds if bound is not None), selection.sort_by_modified)


@dataclass(frozen=True, slots=True)
class Window:
    """The half-open window [modified_from, modified_before) of last_modified_time; unbounded when None."""

    modified_from: datetime | None = None
    modified_before: datetime | None = None

    @property
    def is_bounded(self) -> bool:
        return self.modified_from is not None or self.modified_before is not None

    def admits(self, modified_at: datetime) -> bool:
        return (self.modified_from is None or modified_at >= self.modified_from) and (
            self.modified_before is None or modified_at < self.modified_before
        )


def read_window(query: Mapping[str, str]) -> Window:
    """The window named by `modified_from`/`modified_before`, or by their expressions in `q`."""
    bounds: dict[str, datetime] = {}
    for name, expression in _WINDOW_EXPRESSIONS.items():
        found = expression.search(query.get("q") or "")
        raw = query.get(name) if name in query else found.group(1) if found else None
        if raw is not None:
            bounds[name] = read_timestamp(raw, name)
    return Window(**bounds)
