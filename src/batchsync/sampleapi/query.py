"""Reading the query parameters every collection endpoint shares: the filter, the sort and page sizes.

Each endpoint names its own paging parameters (page/per_page, offset/limit, batchSize...), but all of them
accept the same `modified_since`, `q` and `sort`, parsed once here into a `Selection`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from batchsync.sampleapi.dataset import parse_timestamp
from batchsync.sampleapi.messages import BadRequestError

# Oracle-style `q=last_modified_time > '2026-01-01T00:00:00+00:00'`; searched rather than matched whole so
# a SOQL string ("SELECT ... WHERE last_modified_time > '...'") carries the same filter.
_MODIFIED_AFTER_EXPRESSION = re.compile(r"last_modified_time\s*>\s*(?:'([^']*)'|(\S+))")
SORT_BY_MODIFIED = "last_modified_time"


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
    bounds: list[datetime] = []
    if "modified_since" in query:
        bounds.append(_read_timestamp(query["modified_since"], "modified_since"))
    expression = query.get("q")
    if expression:
        match = _MODIFIED_AFTER_EXPRESSION.search(expression)
        if match is not None:
            quoted, bare = match.group(1, 2)
            bounds.append(_read_timestamp(quoted if quoted is not None else bare, "q"))
        elif not is_unknown_q_ignored:
            raise BadRequestError(
                f"unsupported q expression {expression!r}; expected last_modified_time > '<ISO-8601>'",
                param="q",
            )
    sort = query.get("sort")
    if sort not in (None, "", SORT_BY_MODIFIED):
        raise BadRequestError(f"cannot sort by {sort!r}; only {SORT_BY_MODIFIED!r} works", param="sort")
    return Selection(max(bounds) if bounds else None, sort == SORT_BY_MODIFIED)


def read_int(query: Mapping[str, str], name: str, *, default: int, minimum: int) -> int:
    """Integer parameter `name`, or `default` when absent; raises BadRequestError below `minimum`."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequestError(f"{name} must be an integer, got {raw!r}", param=name) from None
    if value < minimum:
        raise BadRequestError(f"{name} must be >= {minimum}, got {value}", param=name)
    return value


def read_page_size(query: Mapping[str, str], name: str, *, default: int, max_page_size: int) -> int:
    """Page size parameter `name`; raises BadRequestError outside 1..max_page_size."""
    value = read_int(query, name, default=min(default, max_page_size), minimum=1)
    if value > max_page_size:
        raise BadRequestError(f"{name} must be <= {max_page_size}, got {value}", param=name)
    return value


def _read_timestamp(raw: str, param: str) -> datetime:
    try:
        return parse_timestamp(raw)
    except ValueError:
        raise BadRequestError(f"{param} must hold an ISO-8601 timestamp, got {raw!r}", param=param) from None
