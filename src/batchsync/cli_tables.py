"""Tables that fit the terminal, for cli_render.py: a column a narrow terminal has no room for is left out,
least useful first, rather than every column being folded until timestamps break mid-digit and
`succeeded` reads `succeede / d`.

Each column says how much it matters and whether it holds free text. Words and figures (times, statuses,
counts) never wrap; free text (an error, a record) folds into the width that is left, down to a minimum.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from rich.table import Table
from rich.text import Text

_MIN_TEXT_WIDTH = 16
"""Narrower than this, free text folds into a column too thin to read: drop a less useful column."""


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    priority: int = 0
    """0: always shown. When the table is too wide, the highest number goes first (rightmost of equals)."""
    is_text: bool = False
    """Free text, folded to fit; otherwise the cells never wrap."""
    justify: Literal["left", "right"] = "left"


def compact_time(moment: datetime | str | None, *, now: datetime | None = None) -> str:
    """A time in UTC as `ls -l` shows one: `12-01 21:27` within the current year, `2025-12-01` before it;
    `never` for None. Takes a datetime or its ISO text (as stored)."""
    if moment is None:
        return "never"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    if moment.year == (now or datetime.now(UTC)).year:
        return moment.strftime("%m-%d %H:%M")
    return moment.strftime("%Y-%m-%d")


def fitted_table(width: int, columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> Table:
    """A table of `rows` (Rich markup, one cell per column) no wider than `width` where it can be: columns
    are left out by priority until what stays fits."""
    needed = [_needed_width(column, [row[index] for row in rows]) for index, column in enumerate(columns)]
    shown = list(range(len(columns)))
    while _table_width(needed[index] for index in shown) > width:
        droppable = [index for index in shown if columns[index].priority > 0]
        if not droppable:
            break  # Rich shortens what is left; a cell that cannot wrap ends in "…", never broken
        shown.remove(max(reversed(droppable), key=lambda index: columns[index].priority))
    table = Table()
    for index in shown:
        column = columns[index]
        table.add_column(
            column.header,
            justify=column.justify,
            no_wrap=not column.is_text,
            overflow="fold" if column.is_text else "ellipsis",
        )
    for row in rows:
        table.add_row(*(row[index] for index in shown))
    return table


def _needed_width(column: Column, cells: list[str]) -> int:
    """A cell that never wraps needs its whole width; free text needs at most `_MIN_TEXT_WIDTH`."""
    widest = max([Text.from_markup(cell).cell_len for cell in cells] + [len(column.header)])
    return min(widest, max(_MIN_TEXT_WIDTH, len(column.header))) if column.is_text else widest


def _table_width(widths: Iterable[int]) -> int:
    """Rich's default box: one space of padding on each side of a cell, a rule between and around."""
    values = list(widths)
    return sum(values) + 3 * len(values) + 1
