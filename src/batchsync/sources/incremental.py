"""Incremental sync: which watermark a pass sends, and how watermarks compare.

The watermark is the highest `cursor_path` value committed (e.g. the latest `updated_at`). It is sent as
a query parameter so the API returns only what changed since; it only advances to values that are safe,
so a record is never skipped because the run stopped half-way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from batchsync.config import IncrementalConfig
from batchsync.models import JSONObject, JSONValue
from batchsync.paths import MISSING, DottedPath


class Incremental:
    def __init__(self, config: IncrementalConfig) -> None:
        self.config = config
        self._path = DottedPath.parse(config.cursor_path)

    @property
    def is_sorted(self) -> bool:
        """The API returns records in ascending cursor order, so each committed page is safe ground."""
        return self.config.sorted

    def params_for(self, watermark: JSONValue) -> dict[str, str]:
        """The query parameter that asks for records changed after `watermark` (none on a first run)."""
        if watermark is None:
            return {}
        template = self.config.param_template or "{value}"
        # replace, not format: query expressions may hold other braces of their own.
        return {self.config.param: template.replace("{value}", str(watermark))}

    def highest_in(self, records: list[JSONObject], current: JSONValue) -> JSONValue:
        highest = current
        for record in records:
            value = self._path.get(record)
            if value is not MISSING and value is not None:
                highest = later(highest, value)
        return highest


def later(a: JSONValue, b: JSONValue) -> JSONValue:
    """The later of two watermark values: numbers by value, date-times as instants, else as text."""
    if a is None:
        return b
    if b is None:
        return a
    return b if _sort_key(b) > _sort_key(a) else a


def _sort_key(value: JSONValue) -> tuple[int, Any]:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return (0, value)  # an exact Decimal from the API compares with a float from the checkpoint
    text = str(value)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return (2, text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (1, moment.timestamp())
