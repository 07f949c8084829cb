"""The one text form of every moment batchsync stores as text: its own tables' timestamps, and the
`_batchsync_*` bookkeeping columns where the database keeps them as text (SQLite).

Stored moments are compared as text (`created_at < ?`, `started_at > ?`, `seen_at < ?`), so the form sorts
as the moments do: UTC, fixed width, always with microseconds — `2026-01-02T03:04:05.000000+00:00`.

Earlier versions also wrote bare `isoformat()` into batchsync's own tables, which is the same text except
at a whole second, where it leaves the fraction out (`2026-01-02T03:04:05+00:00`). Such a text still
sorts right against today's: the seconds agree and then `+` sorts before `.`, so it comes before every
later moment and after every earlier one. Only "strictly before" needs care: the old text of exactly the
bound's moment sorts before the bound's text though it is not earlier (`is_before` excludes it).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_


def stamp(moment: datetime) -> str:
    """`moment` (timezone-aware) as the text batchsync stores: UTC, always with microseconds."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def is_before(stored: ColumnElement[str], moment: datetime) -> ColumnElement[bool]:
    """SQL: the text timestamp in `stored` is a moment strictly before `moment`, whichever version wrote
    it (an earlier version's text of `moment` itself sorts before `stamp(moment)`: excluded by name)."""
    return and_(stored < stamp(moment), stored != moment.astimezone(UTC).isoformat())
