"""The seam between the engine and anything that yields pages of records at resumable cursors."""

from __future__ import annotations

from typing import Protocol

from batchsync.models import Cursor, Page


class PagedSource(Protocol):
    @property
    def is_positional(self) -> bool:
        """Pages are addressed by position, so drift detection applies."""
        ...

    def first_cursor(self) -> Cursor: ...

    def fetch_page(self, cursor: Cursor) -> Page:
        """The page at `cursor`. Raises SourceError."""
        ...

    def next_cursor(self, page: Page, cursor: Cursor) -> Cursor | None:
        """The cursor after `page`, or None when it was the last."""
        ...

    def expected_total(self, page: Page) -> int | None: ...

    def cursor_after_full_page(self, cursor: Cursor, expected_total: int | None) -> Cursor | None:
        """The cursor of the page after the one at `cursor` if that page comes back full, before it has
        come back; None when it cannot be told ahead (a token or a link from the answer), or when
        `expected_total` (records in the pass, when known) says the page at `cursor` is the last. Lets
        the engine fetch pages ahead; the real `next_cursor` still decides which of them count."""
        ...

    def describe_position(self, cursor: Cursor) -> str:
        """The page at `cursor` as the user would name it ("offset 200", "page 3"), for error messages."""
        ...

    @property
    def position_hint(self) -> str | None:
        """What to check when pages come back as if the API ignored the position asked for ("is
        `offset_param: start` right?"); None when such pages are the source's own business and the
        engine does not look for them."""
        ...
