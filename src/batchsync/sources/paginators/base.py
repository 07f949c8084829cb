"""The paginator seam: which request fetches the page at a cursor, and which cursor comes next.

Paginators do no I/O and keep no state between calls: the engine stores the cursor in the checkpoint, so
a restarted run asks for exactly the page it would have asked for next.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urljoin

from batchsync.errors import PaginationError
from batchsync.models import Cursor, JSONValue, Page, PageRequest
from batchsync.paths import MISSING, DottedPath
from batchsync.truthy import FALSE_TEXTS, TRUE_TEXTS, truth_of_text

_MESSAGE_CURSOR_CHARS = 60


class Paginator(Protocol):
    is_positional: bool
    """Pages are addressed by position (offset, page number), so records inserted or deleted ahead of
    the cursor shift what later pages hold: drift detection applies."""

    @property
    def fingerprint(self) -> str:
        """Identifies the settings a cursor depends on; a pass may only resume under the same one."""
        ...

    @property
    def settings(self) -> dict[str, str]:
        """The settings `fingerprint` is made of, by name (`paginator`, `page_size`, `start`): stored with
        the pass, so a pass refused for other settings can say which one changed, from what to what."""
        ...

    def first_cursor(self) -> Cursor:
        """The cursor of a pass's first page."""
        ...

    def request_for(self, cursor: Cursor, template: PageRequest) -> PageRequest:
        """The request for the page at `cursor`, built from the source's URL and params."""
        ...

    def next_cursor(self, page: Page, cursor: Cursor) -> Cursor | None:
        """The cursor of the page after `page` (fetched at `cursor`), or None when it was the last."""
        ...

    def expected_total(self, page: Page) -> int | None:
        """How many records the whole pass holds, when the API says so (for progress and ETA)."""
        ...

    def cursor_after_full_page(self, cursor: Cursor, expected_total: int | None) -> Cursor | None:
        """The cursor of the next page if the page at `cursor` comes back full, known before it does;
        None when only the answer can tell (a token, a link) or when `expected_total` (the pass's records,
        when the API says) puts the end at this page. See `PagedSource.cursor_after_full_page`."""
        ...

    def describe(self, cursor: Cursor) -> str:
        """The page at `cursor` as the user would name it ("offset 200", "page 3"), for error messages."""
        ...

    @property
    def position_hint(self) -> str:
        """What to check when the API answers as if it ignored the position asked for, e.g. "is
        `offset_param: start` right?": the settings that move the API from one page to the next."""
        ...


def request_for_url_cursor(
    cursor: Cursor, template: PageRequest, size_param: str | None, page_size: int | None
) -> PageRequest:
    """For paginators whose cursor is the next page's URL (link_header, next_url): the first request is
    the source's own, with the page size if one is sent; later ones are the URL as the API gave it,
    which already carries every query parameter."""
    if cursor is not None:
        return PageRequest(str(cursor))
    if size_param and page_size:
        return template.with_params(**{size_param: str(page_size)})
    return template


def next_page_url(page_url: str, link: str) -> str:
    """The link an answer gave for the next page, resolved against that answer's URL as a browser
    would. Raises PaginationError for a link no URL parser can read (`http://[::1`)."""
    try:
        return urljoin(page_url, link)
    except ValueError as exc:
        raise PaginationError(f"the API named a next page that is not a valid URL: {link!r} ({exc})") from exc


def describe_opaque_cursor(cursor: Cursor) -> str:
    """A token cursor for a message: "the first page" before any, else its start (opaque cursors run to
    hundreds of characters; the start tells one from another)."""
    if cursor is None:
        return "the first page"
    text = repr(cursor)
    return f"cursor {text if len(text) <= _MESSAGE_CURSOR_CHARS else text[:_MESSAGE_CURSOR_CHARS] + '…'}"


def describe_url_cursor(cursor: Cursor, noun: str) -> str:
    """A URL cursor for a message, whole: the user may want to open it."""
    return "the first page" if cursor is None else f"{noun} {cursor!r}"


def read_flag(page: Page, path: DottedPath) -> bool:
    """A has-more style flag from the answer; its absence is an error rather than a silent stop, and so
    is text that is neither true nor false (see truthy.py): reading `"maybe"` as false would end the pass
    early without a word."""
    value = path.get(page.response.body)
    if value is MISSING:
        raise PaginationError(
            f"the answer from {page.response.url} has no {path} (paginator has_more_path)",
            url=page.response.url,
        )
    if isinstance(value, str):
        truth = truth_of_text(value)
        if truth is None:
            trues, falses = ", ".join(sorted(TRUE_TEXTS)), ", ".join(sorted(FALSE_TEXTS))
            words = f"true is one of {trues}; false of {falses}"
            raise PaginationError(
                f"the answer from {page.response.url} has {value!r} at {path} (paginator has_more_path), "
                f"which is neither true nor false ({words})",
                url=page.response.url,
            )
        return truth
    return bool(value)


def read_int(page: Page, path: DottedPath, setting: str) -> int:
    value: JSONValue = path.get(page.response.body)
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite Decimal
        raise PaginationError(
            f"the answer from {page.response.url} has no whole number at {path} (paginator {setting})",
            url=page.response.url,
        ) from None
