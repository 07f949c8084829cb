"""`source.type: python`: any generator of records becomes a resumable source.

The function is called as `function(cursor, **options)` and yields either records (dicts) or
`SourcePage(records, cursor)` values. With pages, `cursor` is where to resume *after* that page: a
restarted run calls the function with the last committed one, so the function decides how to continue.
With plain records, batchsync groups them into pages of `page_size` and resumes by calling the function
from the start and skipping the records already committed.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typing_extensions import override

from batchsync.config import PythonSourceConfig
from batchsync.errors import ConfigError, RecordError, SourceError
from batchsync.models import Cursor, JSONObject, JsonResponse, JSONValue, Page
from batchsync.sources.base import PagedSource


@dataclass(frozen=True, slots=True)
class SourcePage:
    """A page a Python source yields: its records, and the cursor to resume from after them."""

    records: list[JSONObject]
    cursor: JSONValue = None


@dataclass
class _Progress:
    iterator: Iterator[Any]
    records_done: int = 0
    pending: list[Any] = field(default_factory=list)


def load_function(reference: str) -> Callable[..., Any]:
    """Import `package.module:callable`. Raises ConfigError naming what is missing."""
    module_name, _, attribute = reference.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"source.function {reference!r} cannot be imported: {exc}{_hint(module_name, exc)}"
        ) from exc
    if not callable(target):
        raise ConfigError(f"source.function {reference!r} is not callable")
    return target  # type: ignore[no-any-return]


def _hint(module_name: str, exc: Exception) -> str:
    """For a package Python cannot find at all, how to let it look in the current directory: the
    `batchsync` command searches its own install, not the directory it is run from."""
    top = module_name.split(".")[0]
    if not isinstance(exc, ModuleNotFoundError) or exc.name != top:
        return ""  # the module was found; something inside it failed (its own import, a missing name)
    if Path(f"{top}.py").is_file() or Path(top, "__init__.py").is_file():
        return f" ({top} is in the current directory, which Python does not search: run with PYTHONPATH=.)"
    return " (is it installed? For a module in the current directory, run with PYTHONPATH=.)"


class PythonSource(PagedSource):
    """Adapts the generator to the engine's page-by-cursor protocol.

    Cursors stored in checkpoints are `{"after": <the function's cursor>}` for page-yielding functions and
    `{"skip": <records>}` for record-yielding ones.
    """

    is_positional = False

    def __init__(self, config: PythonSourceConfig, page_size: int | None = None) -> None:
        self._config = config
        self._function = load_function(config.function)
        self._page_size = page_size or config.page_size
        self._progress: _Progress | None = None

    def first_cursor(self) -> Cursor:
        return None

    def fetch_page(self, cursor: Cursor) -> Page:
        progress = self._progress or self._start(cursor)
        try:
            item = next(progress.iterator, None)
        except Exception as exc:  # the user's code failed: stop the run with its message
            raise SourceError(f"{self._config.function} raised {exc!r}") from exc
        if item is None:
            return self._page([], {"done": True})
        if isinstance(item, SourcePage):
            return self._page(list(item.records), {"after": item.cursor})
        if not isinstance(item, dict):
            raise RecordError(
                f"{self._config.function} yielded {type(item).__name__}, not a record or SourcePage"
            )
        batch = [item, *itertools.islice(progress.iterator, self._page_size - 1)]
        progress.records_done += len(batch)
        return self._page(batch, {"skip": progress.records_done})

    @override
    def next_cursor(self, page: Page, cursor: Cursor) -> Cursor | None:
        following: dict[str, Any] = page.response.body
        return None if following.get("done") else following

    @override
    def expected_total(self, page: Page) -> int | None:
        return None

    @override
    def cursor_after_full_page(self, cursor: Cursor, expected_total: int | None) -> Cursor | None:
        """None: a generator's pages come one after the other, never ahead of the one before."""
        return None

    def describe_position(self, cursor: Cursor) -> str:
        return f"cursor {cursor!r}"

    @property
    def position_hint(self) -> None:
        """Not checked: the function decides what each page holds, and may mean to repeat records."""
        return None

    def _start(self, cursor: Cursor) -> _Progress:
        resume = cursor.get("after") if isinstance(cursor, dict) else None
        skip = int(cursor.get("skip", 0)) if isinstance(cursor, dict) else 0
        iterator = iter(self._function(resume, **self._config.options))
        if skip:  # record-yielding functions cannot resume themselves: replay and skip what is committed
            iterator = itertools.islice(iterator, skip, None)
        self._progress = _Progress(iterator, records_done=skip)
        return self._progress

    def _page(self, records: list[JSONObject], following: JSONObject) -> Page:
        response = JsonResponse(url=f"python:{self._config.function}", status=200, headers={}, body=following)
        return Page(response, records)
