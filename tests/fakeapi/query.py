"""The fake API's filter: the product's (`modified_since`, `sort`) narrowed by an Oracle-style `q`.

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

_MODIFIED_AFTER_EXPRESSION = re.compile(r"last_modified_time\s*>\s*(?:'([^']*)'|(\S+))")


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
        if expression and not is_unknown_q_ignored:
            raise BadRequestError(
                f"unsupported q expression {expression!r}; expected last_modified_time > '<ISO-8601>'",
                param="q",
            )
        return selection
    quoted, bare = match.group(1, 2)
    bounds = [read_timestamp(quoted if quoted is not None else bare, "q"), selection.modified_after]
    return Selection(max(bound for bound in bounds if bound is not None), selection.sort_by_modified)
