"""Dotted paths into JSON (`page_context.has_more_page`, `items.0.id`, `$` for the whole value).

Config names places in API answers and records with these paths; they are parsed once, when the config
is loaded, because the mapping of every record walks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from batchsync.models import JSONValue


class _Missing:
    """The path leads nowhere (distinct from a JSON null that is present)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


@dataclass(frozen=True, slots=True)
class DottedPath:
    """A parsed path; `steps` is empty for `$` (the value itself)."""

    text: str
    steps: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> DottedPath:
        """Parse `a.b.0.c`; a segment of digits indexes a list, or names a key of a mapping.

        Raises ValueError on empty segments."""
        if text in ("$", ""):
            return cls("$", ())
        raw = text[2:] if text.startswith("$.") else text
        steps = tuple(raw.split("."))
        if not all(steps):
            raise ValueError(f"path {text!r} has an empty segment")
        return cls(text, steps)

    def get(self, value: JSONValue) -> JSONValue:
        """The value at this path, or MISSING when any step is absent."""
        for step in self.steps:
            if isinstance(value, dict):
                if step not in value:
                    return MISSING
                value = value[step]
            elif isinstance(value, list) and step.isdigit():
                index = int(step)
                if index >= len(value):
                    return MISSING
                value = value[index]
            else:
                return MISSING
        return value

    def __str__(self) -> str:
        return self.text
