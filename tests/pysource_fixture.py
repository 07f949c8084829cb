"""Python sources used by the tests (imported by `function: pysource_fixture:...`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from batchsync import SourcePage


def squares_config(database_url: str, function: str, **options: Any) -> dict[str, Any]:
    """A config whose pipeline `squares` syncs `function` of this module (given `options`) into `squares`:
    a pipeline that needs no API."""
    return {
        "database": database_url,
        "pipelines": {
            "squares": {
                "source": {
                    "type": "python",
                    "function": f"pysource_fixture:{function}",
                    "options": options,
                    "page_size": 100,
                },
                "destination": {
                    "table": "squares",
                    "primary_key": "n",
                    "columns": {
                        "n": {"path": "n", "type": "integer"},
                        "square": {"path": "square", "type": "integer"},
                    },
                },
                "db_batch_size": 100,
            }
        },
    }


CALLS: list[Any] = []  # the cursor of every call, so tests can see where a run resumed


def numbers(cursor: Any, count: int = 2_500, page_size: int = 100) -> Iterator[SourcePage]:
    """Pages of records that resume from the cursor they were given."""
    CALLS.append(cursor)
    start = 0 if cursor is None else int(cursor)
    for first in range(start, count, page_size):
        last = min(first + page_size, count)
        yield SourcePage([{"n": n, "square": n * n} for n in range(first, last)], cursor=last)


def plain_records(cursor: Any, count: int = 1_234) -> Iterator[dict[str, Any]]:
    """Plain records, no cursor of its own: batchsync replays and skips on resume."""
    CALLS.append(cursor)
    for n in range(count):
        yield {"n": n, "square": n * n}
